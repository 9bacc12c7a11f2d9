import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { REDO_FIRST_MS, REDO_MAX_MS, redoneInPlace, type FailedBatch } from '../src/consumer.js';

const rebalancing = new kafkajs.KafkaJSProtocolError(
  Object.assign(new Error('the coordinator answered REBALANCE_IN_PROGRESS'), {
    type: 'REBALANCE_IN_PROGRESS',
    code: 27,
    retriable: false,
  }),
);

function harness(o: { active?: () => boolean; closing?: () => boolean } = {}) {
  const failures = new Map<string, number>();
  const reported: FailedBatch[] = [];
  let slept = 0;
  const run = (partition: number, handle: () => Promise<void>) =>
    redoneInPlace(
      {
        batch: { topic: 't', partition, isActive: o.active ?? (() => true) },
        failures,
        committer: { isClosing: o.closing?.() ?? false },
        onError: (_err, failed) => reported.push(failed),
        sleep: async (ms) => {
          slept += ms;
        },
      },
      handle,
    );
  return { run, reported, slept: () => slept };
}

const fails = async () => {
  throw new Error('Postgres for a moment');
};
const succeeds = async () => undefined;

describe('redoneInPlace', () => {
  it('returns after a failure, waiting longer for each failure of the partition in a row, up to REDO_MAX_MS; a success starts again', async () => {
    const h = harness();
    for (let i = 0; i < 8; i++) await h.run(0, fails);
    expect(h.reported.map((f) => f.retryInMs)).toEqual([250, 500, 1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
    expect(h.reported.map((f) => f.failures)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(h.slept()).toBe(250 + 500 + 1_000 + 2_000 + 4_000 + 3 * REDO_MAX_MS);
    await h.run(0, succeeds);
    await h.run(0, fails);
    expect(h.reported.at(-1)).toMatchObject({ failures: 1, retryInMs: REDO_FIRST_MS });
  });

  it('counts each partition apart', async () => {
    const h = harness();
    await h.run(0, fails);
    await h.run(0, fails);
    await h.run(1, fails);
    expect(h.reported.map((f) => [f.partition, f.failures])).toEqual([
      [0, 1],
      [0, 2],
      [1, 1],
    ]);
  });

  it('throws a lost membership to kafkajs (it rejoins), unreported', async () => {
    const h = harness();
    await expect(
      h.run(0, async () => {
        throw rebalancing;
      }),
    ).rejects.toBe(rebalancing);
    expect(h.reported).toEqual([]);
  });

  it('gives the wait up once the batch is no longer active (a rebalance) or the consumer is closing', async () => {
    let active = true;
    const revoked = harness({ active: () => active });
    const pending = revoked.run(0, async () => {
      active = false;
      throw new Error('failed as the partition was revoked');
    });
    await pending;
    expect(revoked.slept()).toBe(0);
    const closing = harness({ closing: () => true });
    await closing.run(0, fails);
    expect(closing.slept()).toBe(0);
  });

  it('throws what onError throws: a way to give the consumer up (kafkajs crashes it and it is recreated)', async () => {
    const given = new Error('give up');
    await expect(
      redoneInPlace(
        {
          batch: { topic: 't', partition: 0, isActive: () => true },
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
});
