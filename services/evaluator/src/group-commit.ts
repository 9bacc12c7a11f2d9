import { Coalescer } from './coalescer.js';

/** Keeps the consumer's group membership during a long run (kafkajs throttles it to its heartbeat interval). */
export type Heartbeat = () => Promise<void>;

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
   * `run` decides the items of the batches in one transaction, at the latest of their times;
   * `heartbeat` beats for every batch in the run (a run that takes long, e.g. one deciding its
   * requests one at a time, calls it between them). A run of more than `maxItems` items is split into
   * transactions of at most that many, in order, beating between them: a backlog's fetch gathered
   * 18,000 gates into one transaction, which on a slow hour outlasted the statement timeout and the
   * group's session, and was then decided one request at a time.
   */
  constructor(
    run: (items: In[], now: number, heartbeat: Heartbeat) => Promise<Out[]>,
    options: { maxItems: number } = { maxItems: Number.POSITIVE_INFINITY },
  ) {
    this.batches = new Coalescer(async (group) => {
      const heartbeat = beatForAll(group.flatMap((b) => (b.heartbeat ? [b.heartbeat] : [])));
      const items = group.flatMap((b) => b.items);
      const now = Math.max(...group.map((b) => b.now));
      const outs: Out[] = [];
      for (let from = 0; from < items.length; from += options.maxItems) {
        if (from > 0) await heartbeat();
        outs.push(...(await run(items.slice(from, from + options.maxItems), now, heartbeat)));
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
 * Beats for every batch of a run. One batch's failed beat (its partition revoked) does not fail the
 * others' run: each batch's own heartbeat after the run still tells its handler. When every beat
 * fails, no batch of the run is this member's any more, and the run stops.
 */
function beatForAll(beats: Heartbeat[]): Heartbeat {
  return async () => {
    const results = await Promise.allSettled(beats.map((beat) => beat()));
    const failed = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (beats.length > 0 && failed.length === beats.length) throw failed[0];
  };
}
