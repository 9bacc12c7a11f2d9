import kafkajs from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MessageAbandoned } from '../src/errors.js';
import {
  REDO_FIRST_MS,
  REDO_MAX_MS,
  eachMessageInTurn,
  retriedAfterPause,
  type FailedBatch,
  type IncomingBatch,
} from '../src/consumer.js';

const rebalancing = new kafkajs.KafkaJSProtocolError(
  Object.assign(new Error('the coordinator answered REBALANCE_IN_PROGRESS'), {
    type: 'REBALANCE_IN_PROGRESS',
    code: 27,
    retriable: false,
  }),
);

/** Partitions paused now, as kafkajs would hold them. */
function harness(closing = { now: false }) {
  const failures = new Map<string, number>();
  const reported: FailedBatch[] = [];
  const paused = new Set<number>();
  const run = (partition: number, handle: () => Promise<void>, progressed = false) =>
    retriedAfterPause(
      {
        batch: { topic: 't', partition, progressed: () => progressed },
        pause: () => {
          paused.add(partition);
          return () => paused.delete(partition);
        },
        failures,
        committer: {
          get isClosing() {
            return closing.now;
          },
        },
        onError: (_err, failed) => reported.push(failed),
      },
      handle,
    );
  return { run, reported, paused };
}

const fails = async () => {
  throw new Error('Postgres for a moment');
};
const succeeds = async () => undefined;

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('retriedAfterPause', () => {
  it('returns at once after a failure, its partition paused for a time that doubles with each failure in a row, up to REDO_MAX_MS; a success starts again', async () => {
    const h = harness();
    const waits: number[] = [];
    for (let i = 0; i < 8; i++) {
      await h.run(0, fails);
      expect(h.paused.has(0)).toBe(true);
      const wait = h.reported.at(-1)!.retryInMs;
      vi.advanceTimersByTime(wait - 1);
      expect(h.paused.has(0)).toBe(true);
      vi.advanceTimersByTime(1);
      expect(h.paused.has(0)).toBe(false);
      waits.push(wait);
    }
    expect(waits).toEqual([250, 500, 1_000, 2_000, 4_000, REDO_MAX_MS, REDO_MAX_MS, REDO_MAX_MS]);
    expect(h.reported.map((f) => f.failures)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    await h.run(0, succeeds);
    await h.run(0, fails);
    expect(h.reported.at(-1)).toMatchObject({ failures: 1, retryInMs: REDO_FIRST_MS });
  });

  it('pauses and counts each partition apart: the others go on', async () => {
    const h = harness();
    await h.run(0, fails);
    await h.run(0, fails);
    await h.run(1, fails);
    expect(h.reported.map((f) => [f.partition, f.failures])).toEqual([
      [0, 1],
      [0, 2],
      [1, 1],
    ]);
    await h.run(2, succeeds);
    expect([...h.paused].sort()).toEqual([0, 1]);
  });

  it('throws a lost membership to kafkajs (it rejoins), unreported and unpaused', async () => {
    const h = harness();
    await expect(
      h.run(0, async () => {
        throw rebalancing;
      }),
    ).rejects.toBe(rebalancing);
    expect(h.reported).toEqual([]);
    expect(h.paused.size).toBe(0);
  });

  it('a consumer closing meanwhile does not resume the partition', async () => {
    const closing = { now: false };
    const h = harness(closing);
    await h.run(0, fails);
    closing.now = true;
    vi.advanceTimersByTime(REDO_MAX_MS);
    expect(h.paused.has(0)).toBe(true);
  });

  it('throws what onError throws: a way to give the consumer up (kafkajs crashes it and it is recreated)', async () => {
    const given = new Error('give up');
    await expect(
      retriedAfterPause(
        {
          batch: { topic: 't', partition: 0 },
          pause: () => () => undefined,
          failures: new Map(),
          committer: { isClosing: false },
          onError: () => {
            throw given;
          },
        },
        fails,
      ),
    ).rejects.toBe(given);
  });

  it('a failure after the batch resolved some of its messages counts as a first failure: progress was made', async () => {
    const h = harness();
    await h.run(0, fails);
    await h.run(0, fails);
    await h.run(0, fails, true);
    expect(h.reported.map((f) => f.failures)).toEqual([1, 2, 1]);
    expect(h.reported.at(-1)!.retryInMs).toBe(REDO_FIRST_MS);
  });

  it('a message given up (MessageAbandoned: the consumer stops or lost the partition) is neither reported nor paused', async () => {
    const h = harness();
    await h.run(0, async () => {
      throw new MessageAbandoned();
    });
    expect(h.reported).toEqual([]);
    expect(h.paused.size).toBe(0);
  });
});

/** A batch of `n` messages as messageConsumer's loop sees it. */
function fakeBatch(n: number, o: { active?: () => boolean; heartbeat?: () => Promise<void> } = {}) {
  const resolved: string[] = [];
  let commits = 0;
  const batch: IncomingBatch = {
    topic: 't',
    partition: 0,
    messages: Array.from({ length: n }, (_, i) => ({
      key: null,
      value: Buffer.from(`m${i}`),
      offset: String(i),
      headers: {},
      timestamp: '0',
    })),
    isActive: o.active ?? (() => true),
    heartbeat: o.heartbeat ?? (async () => undefined),
    resolveOffset: (offset) => void resolved.push(offset),
    commit: () => void commits++,
  };
  return { batch, resolved, commits: () => commits };
}

describe('eachMessageInTurn (messageConsumer)', () => {
  it('resolves and commits each message once handled, in order; a failure leaves it and the rest unresolved', async () => {
    const f = fakeBatch(4);
    const handled: string[] = [];
    await expect(
      eachMessageInTurn({ batch: f.batch, intervalMs: 1_000 }, async (m) => {
        if (m.offset === '2') throw new Error('the dlq write was refused');
        handled.push(m.offset);
      }),
    ).rejects.toThrow('refused');
    expect(handled).toEqual(['0', '1']);
    expect(f.resolved).toEqual(['0', '1']);
    expect(f.commits()).toBe(2);
  });

  it('beats between messages: a lost membership ends the batch (kafkajs rejoins), another beat failure does not', async () => {
    let beats = 0;
    const f = fakeBatch(3, {
      heartbeat: async () => {
        beats++;
        if (beats === 1) throw new Error('request timed out');
        if (beats === 2) throw rebalancing;
      },
    });
    const handled: string[] = [];
    await expect(
      eachMessageInTurn({ batch: f.batch, intervalMs: 1_000 }, async (m) => void handled.push(m.offset)),
    ).rejects.toBe(rebalancing);
    expect(handled).toEqual(['0', '1']);
  });

  it("stops taking messages once the batch is inactive, and a handler's heartbeat then throws MessageAbandoned", async () => {
    let active = true;
    const f = fakeBatch(3, { active: () => active });
    const handled: string[] = [];
    await expect(
      eachMessageInTurn({ batch: f.batch, intervalMs: 1_000 }, async (m, context) => {
        handled.push(m.offset);
        if (m.offset === '1') {
          active = false; // the consumer stops while this message waits out an outage
          await context.heartbeat();
        }
      }),
    ).rejects.toBeInstanceOf(MessageAbandoned);
    expect(handled).toEqual(['0', '1']);
    expect(f.resolved).toEqual(['0']);

    const g = fakeBatch(3, { active: () => g.resolved.length < 1 });
    await eachMessageInTurn({ batch: g.batch, intervalMs: 1_000 }, async () => undefined);
    expect(g.resolved).toEqual(['0']);
  });

  it('a handler whose beat finds the membership lost is told to give its message up, and kafkajs gets the lost membership (it rejoins)', async () => {
    const f = fakeBatch(2, {
      heartbeat: async () => {
        throw rebalancing;
      },
    });
    const seen: unknown[] = [];
    await expect(
      eachMessageInTurn({ batch: f.batch, intervalMs: 1_000 }, async (_m, context) => {
        // As the approvals intake waits out an outage: it lets MessageAbandoned through.
        await context.heartbeat().catch((err: unknown) => {
          seen.push(err);
          throw err;
        });
      }),
    ).rejects.toBe(rebalancing);
    expect(seen).toEqual([expect.any(MessageAbandoned)]);
    expect(f.resolved).toEqual([]);
  });

  it('a handler that swallows its MessageAbandoned has its message resolved, and kafkajs still gets the lost membership before the next message', async () => {
    let beats = 0;
    const f = fakeBatch(3, {
      heartbeat: async () => {
        // The handler's own beat finds the membership lost; the beat between messages fails only for a moment.
        beats++;
        throw beats === 1 ? rebalancing : new Error('request timed out');
      },
    });
    const handled: string[] = [];
    await expect(
      eachMessageInTurn({ batch: f.batch, intervalMs: 1_000 }, async (m, context) => {
        handled.push(m.offset);
        await context.heartbeat().catch(() => undefined);
      }),
    ).rejects.toBe(rebalancing);
    expect(handled).toEqual(['0']);
    expect(f.resolved).toEqual(['0']);
  });
});
