import { MAX_PRODUCE_REQUEST_BYTES, produceRequests, type OutgoingMessage } from '@stepgate/messaging';

/** A produce request's values at most (a record batch over the broker's `message.max.bytes` is refused). */
export const MAX_SEND_BYTES = MAX_PRODUCE_REQUEST_BYTES;

/**
 * How many of the queued messages go in the next produce request (messaging's rule): what piles up
 * behind a slow broker never makes a record batch the broker refuses as too large.
 */
export function sendable(queued: ReadonlyArray<{ message: Pick<OutgoingMessage, 'value'> }>): number {
  return produceRequests(queued.map((q) => q.message))[0]?.length ?? 0;
}
