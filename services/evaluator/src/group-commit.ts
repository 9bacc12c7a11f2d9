import { Coalescer } from '@stepgate/runtime';

/** Keeps the consumer's group membership during a long run (kafkajs throttles it to its heartbeat interval). */
export type Heartbeat = () => Promise<void>;

export interface GroupCommitOptions {
  /** Most items one transaction decides (an integer ≥ 1; Infinity: no limit). */
  maxItems: number;
  /** Whether a heartbeat's failure means the member lost its partitions: the run then stops. */
  membershipLost: (err: unknown) => boolean;
  /** Monotonic time, read once at each run's start and handed to every chunk (default performance.now). */
  clock?: () => number;
}

/** What every chunk of one run shares: its heartbeat, and when the run started (by the options' clock). */
export interface RunContext {
  heartbeat: Heartbeat;
  startedAt: number;
}

/**
 * Decides the batches of partitions fetched concurrently in as few transactions as it can. A batch
 * arriving while a transaction is in flight waits for it and then goes, with every other batch that
 * arrived meanwhile, into one transaction (group commit): gates spread over many partitions cost one
 * set of round trips and one commit, not one each. With none in flight, a transaction starts after
 * the current event-loop turn with every batch submitted in it. Each batch gets back
 * its own outcomes, in order; its offsets are still committed by its own handler, after its decisions
 * are published. A failed transaction fails every batch in it (each is then redone by its handler).
 */
export class GroupCommit<In, Out> {
  private readonly batches: Coalescer<{ items: In[]; now: number; heartbeat?: Heartbeat | undefined }, Out[]>;

  /**
   * `run` decides the items of the batches in one transaction, at the latest of their times; its
   * context's `heartbeat` beats for every batch in the run (a run that takes long, e.g. one splitting a failed
   * transaction, calls it between its parts). A run of more than `maxItems` items is split into
   * transactions of at most that many, in order, beating between them, each later one at the time it
   * starts: a backlog's fetch gathered 18,000 gates into one transaction, which on a slow hour
   * outlasted the statement timeout and the group's session.
   */
  constructor(
    run: (items: In[], now: number, context: RunContext) => Promise<Out[]>,
    options: GroupCommitOptions = { maxItems: Number.POSITIVE_INFINITY, membershipLost: () => false },
  ) {
    const { maxItems } = options;
    const clock = options.clock ?? (() => performance.now());
    if (!(maxItems === Number.POSITIVE_INFINITY || (Number.isInteger(maxItems) && maxItems >= 1)))
      throw new RangeError(`group commit: maxItems must be an integer of at least 1, got ${String(maxItems)}`);
    this.batches = new Coalescer(async (group) => {
      const heartbeat = beatForAll(
        group.flatMap((b) => (b.heartbeat ? [b.heartbeat] : [])),
        options.membershipLost,
      );
      const items = group.flatMap((b) => b.items);
      const now = Math.max(...group.map((b) => b.now));
      const context = { heartbeat, startedAt: clock() };
      let outs: Out[] = [];
      for (let from = 0; from < items.length; from += maxItems) {
        if (from > 0) await heartbeat();
        const chunk = items.slice(from, from + maxItems);
        const decided = await run(chunk, from === 0 ? now : Math.max(now, Date.now()), context);
        if (decided.length !== chunk.length)
          throw new Error(`group commit: ${decided.length} outcomes for ${chunk.length} items`);
        outs = outs.concat(decided);
      }
      let from = 0;
      return group.map((b) => outs.slice(from, (from += b.items.length)));
    });
  }

  submit(items: In[], now: number, heartbeat?: Heartbeat): Promise<Out[]> {
    return this.batches.submit({ items, now, heartbeat });
  }
}

/**
 * Beats for every batch of a run. kafkajs beats once for the member, so the batches' beats fail
 * together; a transient failure (a timeout, a moved coordinator) is left to the next beat, while a
 * lost membership stops the run: its partitions are another member's now, and each batch is redone
 * there from its last committed offset.
 */
function beatForAll(beats: Heartbeat[], membershipLost: (err: unknown) => boolean): Heartbeat {
  return async () => {
    const results = await Promise.allSettled(beats.map((beat) => beat()));
    for (const r of results) if (r.status === 'rejected' && membershipLost(r.reason)) throw r.reason;
  };
}
