import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { waitForDatabase } from '../src/database.js';

const log = { error: () => undefined, info: () => undefined, warn: () => undefined } as never;

/** A pool whose `select 1` answers once `up` says so; time is virtual (each wait moves `clock`). */
function setting(o: { upAfterMs?: number; activeForMs?: number; beatFailsAfterMs?: number }) {
  let clock = 0;
  let beats = 0;
  const pool = {
    query: async () => {
      if (o.upAfterMs === undefined || clock < o.upAfterMs) throw new Error('connect ECONNREFUSED');
      return { rows: [{ '?column?': 1 }] };
    },
  } as unknown as pg.Pool;
  const batch = {
    isActive: () => o.activeForMs === undefined || clock < o.activeForMs,
    heartbeat: async () => {
      beats++;
      if (o.beatFailsAfterMs !== undefined && clock >= o.beatFailsAfterMs) throw new Error('rebalancing');
    },
  };
  const sleep = async (ms: number) => {
    clock += ms;
  };
  return { pool, batch, sleep, clock: () => clock, beats: () => beats };
}

describe('waitForDatabase', () => {
  it('returns once Postgres answers, beating the heartbeat between tries', async () => {
    const s = setting({ upAfterMs: 20_000 });
    await waitForDatabase({ pool: s.pool, batch: s.batch, log, cause: new Error('down'), sleep: s.sleep });
    expect(s.clock()).toBeGreaterThanOrEqual(20_000);
    expect(s.clock()).toBeLessThan(25_000 + 250);
    expect(s.beats()).toBeGreaterThanOrEqual(5);
  });

  it('gives the wait up as soon as the batch is no longer active (the consumer stopping), Postgres still down', async () => {
    const s = setting({ activeForMs: 7_000 });
    await waitForDatabase({ pool: s.pool, batch: s.batch, log, cause: new Error('down'), sleep: s.sleep });
    expect(s.clock()).toBe(7_000);
  });

  it('gives the wait up when a beat fails (a rebalance): the batch is fetched again by whoever has it', async () => {
    const s = setting({ beatFailsAfterMs: 3_000 });
    await waitForDatabase({ pool: s.pool, batch: s.batch, log, cause: new Error('down'), sleep: s.sleep });
    expect(s.clock()).toBeLessThan(3_000 + 5_000);
  });
});
