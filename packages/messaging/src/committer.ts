import type { EachBatchPayload } from 'kafkajs';

type Committable = Pick<EachBatchPayload, 'commitOffsetsIfNecessary' | 'uncommittedOffsets'>;

/**
 * Commits a consumer group's processed offsets without holding up its batches: a batch resolves its
 * last offset once its effects are durable and hands the commit here; at most one commit is in flight,
 * and batches finished meanwhile are covered by the next one. Awaiting a commit per batch would cost a
 * broker round trip on every partition's critical path, and kafkajs fetches again only when all batches
 * of a fetch are done. A commit that is lost (crash, rebalance) only replays work that is idempotent.
 *
 * The resolved offsets are passed explicitly: with `autoCommit: false`, kafkajs's
 * `commitOffsetsIfNecessary()` without arguments commits only when an autoCommitInterval or
 * autoCommitThreshold is set (kafkajs issue #1729).
 */
export class OffsetCommitter {
  private inFlight: Promise<void> | undefined;
  private next: Committable | undefined;
  private running = 0;
  private closing = false;
  private idle: (() => void) | undefined;

  constructor(private readonly onError: (err: unknown) => void) {}

  /** Whether the consumer is closing: running batches should finish (or give up a wait) soon. */
  get isClosing(): boolean {
    return this.closing;
  }

  /** Runs one batch's work; once the consumer is closing, a new batch is left for redelivery. */
  async run(work: () => Promise<void>): Promise<void> {
    if (this.closing) return;
    this.running++;
    try {
      await work();
    } finally {
      if (--this.running === 0) this.idle?.();
    }
  }

  /**
   * Before the consumer disconnects (and so leaves its group, after which its commits are refused):
   * takes no new batches, lets the running ones finish, and commits what they resolved.
   */
  async close(): Promise<void> {
    this.closing = true;
    if (this.running > 0) await new Promise<void>((resolve) => (this.idle = resolve));
    await this.flush();
  }

  /** Call after `payload.resolveOffset(last)` of a finished batch. */
  commit(payload: Committable): void {
    this.next = payload;
    this.inFlight ??= this.drain();
  }

  /** Waits until everything handed over so far is committed (or has failed and been reported). */
  async flush(): Promise<void> {
    await this.inFlight;
  }

  private async drain(): Promise<void> {
    while (this.next) {
      const payload = this.next;
      this.next = undefined;
      try {
        await payload.commitOffsetsIfNecessary(payload.uncommittedOffsets());
      } catch (err) {
        this.onError(err);
      }
    }
    this.inFlight = undefined;
  }
}
