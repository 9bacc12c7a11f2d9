import { describe, expect, it } from 'vitest';
import { OffsetCommitter } from '../src/index.js';

/** A stand-in for kafkajs's batch payload: records the offsets each commit carried, answers when told. */
function fakeGroup() {
  let resolved = 0;
  const commits: number[] = [];
  const pending: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const payload = {
    uncommittedOffsets: () => ({ topics: [{ topic: 't', partitions: [{ partition: 0, offset: String(resolved) }] }] }),
    commitOffsetsIfNecessary: (offsets?: { topics: Array<{ partitions: Array<{ offset: string }> }> }) => {
      commits.push(Number(offsets!.topics[0]!.partitions[0]!.offset));
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      return new Promise<void>((resolve) => pending.push(() => (inFlight--, resolve())));
    },
  };
  return { payload, commits, pending, resolve: (o: number) => (resolved = o), maxInFlight: () => maxInFlight };
}

describe('OffsetCommitter', () => {
  it('keeps one commit in flight and covers the batches finished meanwhile with the next one', async () => {
    const g = fakeGroup();
    const committer = new OffsetCommitter(() => undefined);
    g.resolve(10);
    committer.commit(g.payload);
    for (const o of [20, 30, 40]) {
      g.resolve(o);
      committer.commit(g.payload);
    }
    expect(g.commits).toEqual([10]);
    g.pending.shift()!();
    await new Promise((r) => setImmediate(r));
    expect(g.commits).toEqual([10, 40]);
    g.pending.shift()!();
    await committer.flush();
    expect(g.maxInFlight()).toBe(1);
  });

  it('reports a failed commit and goes on with the next', async () => {
    const errors: unknown[] = [];
    const committer = new OffsetCommitter((err) => errors.push(err));
    let calls = 0;
    const payload = {
      uncommittedOffsets: () => ({ topics: [] }),
      commitOffsetsIfNecessary: async () => {
        if (calls++ === 0) throw new Error('coordinator moved');
      },
    };
    committer.commit(payload);
    await committer.flush();
    committer.commit(payload);
    await committer.flush();
    expect(errors).toHaveLength(1);
    expect(calls).toBe(2);
  });

  it('close() lets running batches finish, takes no new ones, and commits what they resolved', async () => {
    const g = fakeGroup();
    const committer = new OffsetCommitter(() => undefined);
    let release!: () => void;
    const running = committer.run(async () => {
      await new Promise<void>((r) => (release = r));
      g.resolve(7);
      committer.commit(g.payload);
    });
    let closed = false;
    const closing = committer.close().then(() => (closed = true));
    let lateRan = false;
    await committer.run(async () => void (lateRan = true));
    expect(lateRan).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(closed).toBe(false);
    release();
    await running;
    await new Promise((r) => setImmediate(r));
    expect(g.commits).toEqual([7]);
    g.pending.shift()!();
    await closing;
    expect(closed).toBe(true);
  });
});
