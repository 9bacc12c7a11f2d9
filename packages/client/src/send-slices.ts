import type { OutgoingMessage } from '@stepgate/messaging';

/** A produce request's values at most (a record batch over the broker's `message.max.bytes` is refused). */
export const MAX_SEND_BYTES = 512 * 1024;

/**
 * How many of the queued messages go in one produce request: up to MAX_SEND_BYTES of values (at least
 * one), so what piles up behind a slow broker never makes a record batch the broker refuses as too
 * large (`message.max.bytes`, 1 MiB by default).
 */
export function sendable(queued: ReadonlyArray<{ message: Pick<OutgoingMessage, 'value'> }>): number {
  let bytes = 0;
  for (let i = 0; i < queued.length; i++) {
    bytes += queued[i]!.message.value.length;
    if (bytes > MAX_SEND_BYTES) return Math.max(1, i);
  }
  return queued.length;
}
