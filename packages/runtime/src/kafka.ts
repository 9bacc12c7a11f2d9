import type { EachBatchPayload } from 'kafkajs';

/**
 * Marks a batch done up to `lastOffset` and commits that offset now. With `autoCommit: false`,
 * kafkajs's `commitOffsetsIfNecessary()` without arguments commits only when an autoCommitInterval or
 * autoCommitThreshold is set (kafkajs issue #1729), so the resolved offsets are passed explicitly.
 */
export async function commitBatch(payload: Pick<EachBatchPayload, 'resolveOffset' | 'commitOffsetsIfNecessary' | 'uncommittedOffsets'>, lastOffset: string): Promise<void> {
  payload.resolveOffset(lastOffset);
  await payload.commitOffsetsIfNecessary(payload.uncommittedOffsets());
}
