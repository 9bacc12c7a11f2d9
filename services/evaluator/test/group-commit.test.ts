import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../src/group-commit.js';

/** A transaction runner whose runs complete when the test says so. */
function fakeRuns() {
  const runs: Array<{ items: string[]; now: number }> = [];
  const pending: Array<(err?: Error) => void> = [];
  const run = (items: string[], now: number) => {
    runs.push({ items, now });
    return new Promise<string[]>((resolve, reject) =>
      pending.push((err) => (err ? reject(err) : resolve(items.map((i) => `decided ${i}`)))),
    );
  };
  return { run, runs, pending };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('group commit', () => {
  it('runs the batches of one event-loop turn together, and those arriving meanwhile in the next run, each getting its own outcomes in order', async () => {
    const f = fakeRuns();
    const commit = new GroupCommit(f.run);
    const first = commit.submit(['a1', 'a2'], 10);
    const alongside = commit.submit(['z1'], 5);
    expect(f.runs).toHaveLength(0);
    await tick();
    expect(f.runs).toEqual([{ items: ['a1', 'a2', 'z1'], now: 10 }]);
    const second = commit.submit(['b1', 'b2'], 30);
    const third = commit.submit(['c1'], 20);
    expect(f.runs).toHaveLength(1);
    f.pending.shift()!();
    expect(await first).toEqual(['decided a1', 'decided a2']);
    expect(await alongside).toEqual(['decided z1']);
    await tick();
    expect(f.runs[1]).toEqual({ items: ['b1', 'b2', 'c1'], now: 30 });
    f.pending.shift()!();
    expect(await second).toEqual(['decided b1', 'decided b2']);
    expect(await third).toEqual(['decided c1']);
  });

  it('fails every batch of a failed run, and the next batch runs again', async () => {
    const f = fakeRuns();
    const commit = new GroupCommit(f.run);
    const first = commit.submit(['a'], 1);
    await tick();
    const second = commit.submit(['b'], 1);
    const third = commit.submit(['c'], 1);
    f.pending.shift()!();
    await first;
    await tick();
    f.pending.shift()!(new Error('connection terminated'));
    await expect(second).rejects.toThrow('connection terminated');
    await expect(third).rejects.toThrow('connection terminated');
    const again = commit.submit(['d'], 1);
    await tick();
    f.pending.shift()!();
    expect(await again).toEqual(['decided d']);
    expect(f.runs).toHaveLength(3);
  });

  it('gives the run a heartbeat that beats for every batch in it', async () => {
    const beats: string[] = [];
    let heartbeat: (() => Promise<void>) | undefined;
    const commit = new GroupCommit<string, string>(async (items, _now, { heartbeat: beat }) => {
      heartbeat = beat;
      return items;
    });
    const done = Promise.all([
      commit.submit(['a'], 1, async () => void beats.push('a')),
      commit.submit(['b'], 1),
      commit.submit(['c'], 1, async () => void beats.push('c')),
    ]);
    await done;
    await heartbeat!();
    expect(beats.sort()).toEqual(['a', 'c']);
  });
});

describe('group commit of a large run', () => {
  class MembershipLost extends Error {}
  const options = (maxItems: number) => ({ maxItems, membershipLost: (err: unknown) => err instanceof MembershipLost });

  it('splits a run of more than maxItems items into transactions of at most that many, in order, beating between them', async () => {
    const calls: string[] = [];
    const times: number[] = [];
    const commit = new GroupCommit<number, number>(async (items, now) => {
      calls.push(`run ${items.join(',')}`);
      times.push(now);
      return items.map((i) => i * 10);
    }, options(2));
    const beat = async () => void calls.push('beat');
    const [a, b] = await Promise.all([commit.submit([1, 2, 3], 1, beat), commit.submit([4, 5], 1)]);
    expect(a).toEqual([10, 20, 30]);
    expect(b).toEqual([40, 50]);
    expect(calls).toEqual(['run 1,2', 'beat', 'run 3,4', 'beat', 'run 5']);
    // The first transaction at the batches' time, each later one at the time it starts.
    expect(times[0]).toBe(1);
    expect(times[1]).toBeGreaterThan(1_000_000);
  });

  it('beats only between transactions: a run of exactly maxItems is one transaction', async () => {
    const calls: string[] = [];
    const commit = new GroupCommit<number, number>(async (items) => {
      calls.push(`run ${items.join(',')}`);
      return items;
    }, options(2));
    await commit.submit([1, 2], 1, async () => void calls.push('beat'));
    expect(calls).toEqual(['run 1,2']);
  });

  it('fails every batch of the run when a later transaction fails, returning nothing of the earlier ones', async () => {
    let runs = 0;
    const commit = new GroupCommit<number, number>(async (items) => {
      if (++runs === 2) throw new Error('statement timeout');
      return items;
    }, options(1));
    const both = [commit.submit([1, 2], 1), commit.submit([3], 1)];
    await expect(both[0]).rejects.toThrow('statement timeout');
    await expect(both[1]).rejects.toThrow('statement timeout');
    expect(runs).toBe(2);
  });

  it('stops the run when a beat says the membership is lost, failing every batch to be redone', async () => {
    const lost = new MembershipLost('The coordinator is not aware of this member');
    let ran = 0;
    const commit = new GroupCommit<number, number>(async (items) => {
      ran++;
      return items;
    }, options(1));
    const failing = async () => {
      throw lost;
    };
    const both = [commit.submit([1, 2], 1, failing), commit.submit([3], 1, failing)];
    await expect(both[0]).rejects.toBe(lost);
    await expect(both[1]).rejects.toBe(lost);
    expect(ran).toBe(1);
  });

  it('stops a run that beats from inside its transaction when the membership is lost', async () => {
    const lost = new MembershipLost('rebalancing');
    const commit = new GroupCommit<number, number>(async (items, _now, { heartbeat }) => {
      await heartbeat();
      return items;
    }, options(10));
    await expect(
      commit.submit([1], 1, async () => {
        throw lost;
      }),
    ).rejects.toBe(lost);
  });

  it('goes on past a transient heartbeat failure (a timeout, a moved coordinator)', async () => {
    const commit = new GroupCommit<number, number>(async (items) => items, options(1));
    const timedOut = async () => {
      throw new Error('Request heartbeat timed out');
    };
    expect(await commit.submit([1, 2, 3], 1, timedOut)).toEqual([1, 2, 3]);
  });

  it('refuses a maxItems that is not a whole number of at least 1, and a run that answers for fewer items', async () => {
    for (const maxItems of [0, -1, 1.5, Number.NaN, undefined as unknown as number])
      expect(() => new GroupCommit(async (items: number[]) => items, options(maxItems))).toThrow(RangeError);
    const short = new GroupCommit<number, number>(async (items) => items.slice(1), options(5));
    await expect(short.submit([1, 2], 1)).rejects.toThrow('1 outcomes for 2 items');
  });

  it('hands every chunk of a run the time the run started, by its clock', async () => {
    let clock = 100;
    const seen: number[] = [];
    const commit = new GroupCommit<number, number>(
      async (items, _now, { startedAt }) => {
        seen.push(startedAt);
        clock += 50;
        return items;
      },
      { ...options(2), clock: () => clock },
    );
    await commit.submit([1, 2, 3, 4, 5], 1);
    expect(seen).toEqual([100, 100, 100]);
  });
});
