import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@stepgate/contracts';
import { verifyChain } from '@stepgate/audit-log';
import { Partitions, writeBatch } from '@stepgate/audit';
import { testNamespace } from '@stepgate/test';

const ns = testNamespace('audit_write');

beforeAll(async () => {
  await ns.migrate();
});

afterAll(async () => {
  await ns.cleanup();
});

const event = (tenant: string, timestamp: string): AuditEvent => ({
  id: randomUUID(),
  timestamp,
  tenant_id: tenant,
  agent_id: 'agent-1',
  session_id: null,
  user_id: null,
  workflow_id: 'wf-1',
  execution_id: null,
  step_id: 's-1',
  action: 'GateEvaluated',
  outcome: 'allow',
  inputs_summary: '{ q: "x" }',
  elapsed_ms: 1,
  decision_id: null,
  decision: 'allow',
  policies_matched: [],
  error_code: null,
  detail: {},
});

async function write(partitions: Partitions, events: AuditEvent[]) {
  const partition = await partitions.ensure(
    ns.pool,
    events.map((e) => e.timestamp),
  );
  const client = await ns.pool.connect();
  try {
    return { partition, result: await writeBatch(client, events, { partition }) };
  } finally {
    client.release();
  }
}

async function rowsOf(tenant: string): Promise<number> {
  const { rows } = await ns.pool.query<{ n: number }>('select count(*)::int as n from audit_log where tenant_id = $1', [
    tenant,
  ]);
  return rows[0]!.n;
}

async function verified(tenant: string) {
  const client = await ns.pool.connect();
  try {
    return await verifyChain(client, tenant);
  } finally {
    client.release();
  }
}

describe('audit writeBatch on real Postgres', () => {
  it('copies a one-month slice into its partition, and a slice over two months through audit_log', async () => {
    const partitions = new Partitions();
    const oneMonth = [event('month', '2026-03-01T00:00:00.000Z'), event('month', '2026-03-31T23:59:59.999Z')];
    const { partition, result } = await write(partitions, oneMonth);
    expect(partition).toBe('audit_log_y2026m03');
    expect(result).toEqual({ inserted: 2, duplicates: 0 });

    const twoMonths = [event('month', '2026-03-15T00:00:00.000Z'), event('month', '2026-04-01T00:00:00.000Z')];
    const spanning = await write(partitions, twoMonths);
    expect(spanning.partition).toBeUndefined();
    expect(spanning.result).toEqual({ inserted: 2, duplicates: 0 });
    const { rows } = await ns.pool.query<{ table: string; n: number }>(
      `select tableoid::regclass::text as table, count(*)::int as n from audit_log where tenant_id = 'month' group by 1 order by 1`,
    );
    expect(rows).toEqual([
      { table: 'audit_log_y2026m03', n: 3 },
      { table: 'audit_log_y2026m04', n: 1 },
    ]);
    expect((await verified('month')).broken).toBeNull();
  });

  it('a redelivered slice mixing stored and new events stores only the new ones, and the chain holds', async () => {
    const partitions = new Partitions();
    const at = (i: number) => new Date(Date.UTC(2026, 4, 10, 0, 0, i)).toISOString();
    const events = Array.from({ length: 20 }, (_, i) => event('redelivered', at(i)));
    expect((await write(partitions, events.slice(0, 12))).result).toEqual({ inserted: 12, duplicates: 0 });
    // Stored events first, then new ones, then one stored event twice in the same slice.
    const redelivery = [...events.slice(6, 20), events[7]!];
    expect((await write(partitions, redelivery)).result).toEqual({ inserted: 8, duplicates: 7 });
    expect((await write(partitions, events)).result).toEqual({ inserted: 0, duplicates: 20 });
    expect(await rowsOf('redelivered')).toBe(20);
    const report = await verified('redelivered');
    expect(report).toMatchObject({ rows: 20, broken: null });
  });

  it('two copies of one event id in a slice (a decision published again): the first is stored', async () => {
    const partitions = new Partitions();
    const first = { ...event('copies', '2026-05-11T00:00:00.000Z'), elapsed_ms: 1 };
    const again = { ...first, elapsed_ms: 9 };
    expect((await write(partitions, [first, again])).result).toEqual({ inserted: 1, duplicates: 1 });
    const { rows } = await ns.pool.query<{ elapsed_ms: number }>(`select elapsed_ms from audit_log where id = $1`, [
      first.id,
    ]);
    expect(rows).toEqual([{ elapsed_ms: 1 }]);
  });

  it("an event whose id is stored for another tenant is not taken for a duplicate: its write fails, the other tenant's row stays", async () => {
    const partitions = new Partitions();
    const theirs = event('victim', '2026-05-12T00:00:00.000Z');
    await write(partitions, [theirs]);
    const forged = { ...event('forger', theirs.timestamp), id: theirs.id };
    await expect(write(partitions, [forged])).rejects.toThrow();
    const { rows } = await ns.pool.query<{ tenant_id: string }>(`select tenant_id from audit_log where id = $1`, [
      theirs.id,
    ]);
    expect(rows).toEqual([{ tenant_id: 'victim' }]);
    // In one slice too: the slice fails (the consumer then writes it in halves, down to the event at fault).
    const mine = event('victim', '2026-05-12T00:00:01.000Z');
    await expect(write(partitions, [mine, { ...mine, tenant_id: 'forger' }])).rejects.toThrow();
  });

  it('a row outside the partition it is copied into is refused by Postgres, not stored there', async () => {
    const partitions = new Partitions();
    await partitions.ensure(ns.pool, ['2026-06-01T00:00:00.000Z', '2026-07-01T00:00:00.000Z']);
    const client = await ns.pool.connect();
    try {
      const err = await writeBatch(client, [event('misplaced', '2026-07-02T00:00:00.000Z')], {
        partition: 'audit_log_y2026m06',
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(pg.DatabaseError);
      expect((err as pg.DatabaseError).code).toBe('23514'); // check_violation: the partition's bounds
    } finally {
      client.release();
    }
    expect(await rowsOf('misplaced')).toBe(0);
  });

  it('verify reads one snapshot: events written during its walk do not make the head look ahead of it', async () => {
    const partitions = new Partitions();
    let second = 0;
    const next = () => event('busy', new Date(Date.UTC(2026, 5, 1, 0, 0, 0, second++)).toISOString());
    await write(partitions, Array.from({ length: 300 }, next));
    let writing = true;
    let written = 0;
    const writer = (async () => {
      for (; writing; written++) await write(partitions, [next()]);
    })();
    try {
      for (let run = 0; run < 3; run++) {
        const client = await ns.pool.connect();
        try {
          // Ten rows per read: the walk takes many round trips, with writes landing between them.
          expect((await verifyChain(client, 'busy', 10)).broken).toBeNull();
        } finally {
          client.release();
        }
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(written).toBeGreaterThan(0);
  });
});
