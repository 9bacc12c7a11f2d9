import { describe, expect, it } from 'vitest';
import { Coalescer } from '../src/coalescer.js';

/** A run that records its groups and waits for `release` before answering. */
function gatedRuns() {
  const groups: number[][] = [];
  let release: () => void = () => undefined;
  let failNext = false;
  const coalescer = new Coalescer<number, number>(async (group) => {
    groups.push(group);
    await new Promise<void>((resolve) => (release = resolve));
    if (failNext) {
      failNext = false;
      throw new Error('run failed');
    }
    return group.map((n) => n * 10);
  });
  return {
    coalescer,
    groups,
    release: () => release(),
    failNext: () => (failNext = true),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('Coalescer', () => {
  it('runs what is submitted in one event-loop turn together, each getting its own result', async () => {
    const { coalescer, groups, release } = gatedRuns();
    const results = [1, 2, 3].map((n) => coalescer.submit(n));
    await turn();
    release();
    expect(await Promise.all(results)).toEqual([10, 20, 30]);
    expect(groups).toEqual([[1, 2, 3]]);
  });

  it('runs what arrives while a run is in flight together in the next, in arrival order', async () => {
    const { coalescer, groups, release } = gatedRuns();
    const first = coalescer.submit(1);
    await turn();
    const later = [coalescer.submit(2), coalescer.submit(3)];
    await turn();
    expect(groups).toEqual([[1]]);
    release();
    await first;
    await turn();
    expect(groups).toEqual([[1], [2, 3]]);
    release();
    expect(await Promise.all(later)).toEqual([20, 30]);
  });

  it('fails every submission of a failed run, and runs the next submission again', async () => {
    const { coalescer, groups, release, failNext } = gatedRuns();
    failNext();
    const failed = [coalescer.submit(1), coalescer.submit(2)];
    await turn();
    release();
    await expect(failed[0]).rejects.toThrow('run failed');
    await expect(failed[1]).rejects.toThrow('run failed');
    const next = coalescer.submit(3);
    await turn();
    release();
    expect(await next).toBe(30);
    expect(groups).toEqual([[1, 2], [3]]);
  });
});
