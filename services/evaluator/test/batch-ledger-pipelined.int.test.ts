import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYED_LOOKUP_PLANS, createPool } from '@stepgate/runtime';
import { BatchLedger, ConcurrentFirstGate, storeOn } from '@stepgate/store';
import { testNamespace } from '@stepgate/test';
import { firstGateRow } from './ledger-rows.js';

/**
 * The batch ledger's write on a pipelined connection, as the evaluator's decide stage runs it: BEGIN
 * sent with the read, COMMIT sent right behind the write before its answer (real Postgres).
 */
const ns = testNamespace('batch_ledger');
let pipelined: pg.Pool;

beforeAll(async () => {
  await ns.migrate();
  await storeOn(ns.pool).tenants.ensure('acme');
  pipelined = createPool(
    { databaseUrl: ns.endpoints.databaseUrl, databaseSchema: ns.schema, databaseSsl: ns.endpoints.databaseSsl },
    2,
    { error: () => undefined, warn: () => undefined },
    { settings: KEYED_LOOKUP_PLANS, pipeline: true },
  );
});
afterAll(async () => {
  await pipelined?.end();
  await ns.cleanup();
});

/** BEGIN and the ledger's read of one step, pipelined. */
async function begin(client: pg.PoolClient, workflowId: string, requestId: string): Promise<BatchLedger> {
  const ledger = new BatchLedger(client);
  await Promise.all([client.query('begin'), ledger.load([{ tenantId: 'acme', workflowId, stepId: 's1', requestId }])]);
  return ledger;
}

function decide(ledger: BatchLedger, workflowId: string, requestId: string, fingerprint: string): void {
  ledger.putRow('acme', workflowId, 's1', firstGateRow(fingerprint));
  ledger.recordDecision({ tenantId: 'acme', requestId, decision: {}, json: JSON.stringify({ request_id: requestId }) });
}

const requested = new Set<string>();
const newRequest = () => {
  const id = randomUUID();
  requested.add(id);
  return id;
};

const stored = async (workflowId: string) => ({
  ledger: (
    await ns.pool.query<{ input_fingerprint: string }>(
      `select input_fingerprint from step_ledger where tenant_id = 'acme' and workflow_id = $1`,
      [workflowId],
    )
  ).rows.map((r) => r.input_fingerprint),
  decisions: (
    await ns.pool.query<{ request_id: string }>(
      `select request_id from gate_decisions where tenant_id = 'acme' and request_id = any($1::uuid[])`,
      [[...requested]],
    )
  ).rows.map((r) => r.request_id),
});
describe('batch ledger on a pipelined connection', () => {
  it('write and COMMIT sent together store the batch', async () => {
    const request = newRequest();
    const client = await pipelined.connect();
    try {
      const ledger = await begin(client, 'wf-alone', request);
      decide(ledger, 'wf-alone', request, 'fp-alone');
      const [, committed] = await Promise.all([ledger.flush(), client.query('commit')]);
      expect(committed.command).toBe('COMMIT');
    } finally {
      client.release();
    }
    const got = await stored('wf-alone');
    expect(got.ledger).toEqual(['fp-alone']);
    expect(got.decisions).toEqual([request]);
  });

  it('a first gate another transaction stored concurrently: the write fails (ConcurrentFirstGate) and the COMMIT behind it rolls back', async () => {
    const [first, second] = [newRequest(), newRequest()];
    const a = await pipelined.connect();
    const b = await pipelined.connect();
    try {
      // Both read the step before either writes: neither sees a row, both insert it.
      const ledgerA = await begin(a, 'wf-race', first);
      const ledgerB = await begin(b, 'wf-race', second);
      decide(ledgerA, 'wf-race', first, 'fp-first');
      decide(ledgerB, 'wf-race', second, 'fp-second');
      await Promise.all([ledgerA.flush(), a.query('commit')]);

      const written = ledgerB.flush();
      const committed = b.query('commit');
      await expect(written).rejects.toBeInstanceOf(ConcurrentFirstGate);
      // Postgres answers COMMIT of a failed transaction with ROLLBACK (not an error).
      expect((await committed).command).toBe('ROLLBACK');
    } finally {
      a.release();
      b.release();
    }
    const got = await stored('wf-race');
    expect(got.ledger).toEqual(['fp-first']);
    expect(got.decisions).toContain(first);
    expect(got.decisions).not.toContain(second);
  });
});
