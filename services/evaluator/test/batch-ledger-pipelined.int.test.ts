import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYED_LOOKUP_PLANS, createPool } from '@stepgate/runtime';
import {
  BatchLedger,
  CommitOutcomeUnknown,
  ConcurrentFirstGate,
  backendIdentity,
  endBackend,
  storeOn,
} from '@stepgate/store';
import { testNamespace } from '@stepgate/test';
import { firstGateRow } from './ledger-rows.js';

/**
 * The batch ledger's write on a pipelined connection, as the evaluator's decide stage runs it: BEGIN
 * sent with the read, COMMIT sent right behind the write before its answer (real Postgres).
 */
const ns = testNamespace('batch_ledger');
let pipelined: pg.Pool;
/** Gives up on a query after 2 s (the evaluator's is 15 s). */
let impatient: pg.Pool;

beforeAll(async () => {
  await ns.migrate();
  await storeOn(ns.pool).tenants.ensure('acme');
  pipelined = createPool(
    { databaseUrl: ns.endpoints.databaseUrl, databaseSchema: ns.schema, databaseSsl: ns.endpoints.databaseSsl },
    2,
    { error: () => undefined, warn: () => undefined },
    { settings: KEYED_LOOKUP_PLANS, pipeline: true },
  );
  impatient = createPool(
    { databaseUrl: ns.endpoints.databaseUrl, databaseSchema: ns.schema, databaseSsl: ns.endpoints.databaseSsl },
    2,
    { error: () => undefined, warn: () => undefined },
    { settings: KEYED_LOOKUP_PLANS, pipeline: true, queryTimeoutMs: 2_000 },
  );
});
afterAll(async () => {
  await pipelined?.end();
  await impatient?.end();
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

/** What is stored of a workflow's step and of the given requests' decisions. */
const stored = async (workflowId: string, requests: string[]) => ({
  ledger: (
    await ns.pool.query<{ input_fingerprint: string }>(
      `select input_fingerprint from step_ledger where tenant_id = 'acme' and workflow_id = $1`,
      [workflowId],
    )
  ).rows.map((r) => r.input_fingerprint),
  decisions: (
    await ns.pool.query<{ request_id: string }>(
      `select request_id from gate_decisions where tenant_id = 'acme' and request_id = any($1::uuid[])`,
      [requests],
    )
  ).rows.map((r) => r.request_id),
});
/**
 * A transaction's write held up by another transaction's lock on `gate_decisions` (the read does not
 * wait for it), while the client gives up after 2 s: COMMIT is already on the wire.
 */
async function writeGivenUpOn(workflowId: string, requestId: string) {
  const blocker = await ns.pool.connect();
  await blocker.query('begin');
  await blocker.query('lock table gate_decisions in share mode');
  const client = await impatient.connect();
  const lost: Error[] = [];
  client.on('error', (err) => lost.push(err));
  const backend = await backendIdentity(client);
  const ledger = await begin(client, workflowId, requestId);
  decide(ledger, workflowId, requestId, `fp-${workflowId}`);
  const failure = await ledger.writeAndCommit().then(
    () => undefined,
    (err: unknown) => err,
  );
  client.release(lost[0] ?? new Error('given up'));
  const release = async () => {
    await blocker.query('commit');
    blocker.release();
  };
  return { failure, backend, release };
}

/** One request decided and committed in a transaction of its own. */
async function gateAlone(workflowId: string, requestId: string, fingerprint: string): Promise<void> {
  const client = await pipelined.connect();
  try {
    const ledger = await begin(client, workflowId, requestId);
    decide(ledger, workflowId, requestId, fingerprint);
    await ledger.writeAndCommit();
  } finally {
    client.release();
  }
}

/** Two connections of the pipelined pool (two evaluators), released after `use`. */
async function twoClients(use: (a: pg.PoolClient, b: pg.PoolClient) => Promise<void>): Promise<void> {
  const a = await pipelined.connect();
  const b = await pipelined.connect();
  try {
    await use(a, b);
  } finally {
    a.release();
    b.release();
  }
}

/** Until the client's backend waits for a lock. */
async function waitingOnLock(client: pg.PoolClient): Promise<void> {
  const pid = (client as unknown as { processID: number }).processID;
  await expect
    .poll(
      async () =>
        (await ns.pool.query('select 1 from pg_stat_activity where pid = $1 and wait_event_type = $2', [pid, 'Lock']))
          .rowCount,
    )
    .toBe(1);
}

describe('batch ledger on a pipelined connection', () => {
  it('write and COMMIT sent together store the batch', async () => {
    const request = randomUUID();
    await gateAlone('wf-alone', request, 'fp-alone');
    const got = await stored('wf-alone', [request]);
    expect(got.ledger).toEqual(['fp-alone']);
    expect(got.decisions).toEqual([request]);
  });

  it('a first gate another transaction stored concurrently: the write fails (ConcurrentFirstGate) and the COMMIT behind it rolls back', async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    await twoClients(async (a, b) => {
      // Both read the step before either writes: neither sees a row, both insert it.
      const ledgerA = await begin(a, 'wf-race', first);
      const ledgerB = await begin(b, 'wf-race', second);
      decide(ledgerA, 'wf-race', first, 'fp-first');
      decide(ledgerB, 'wf-race', second, 'fp-second');
      await ledgerA.writeAndCommit();
      await expect(ledgerB.writeAndCommit()).rejects.toBeInstanceOf(ConcurrentFirstGate);
      // The connection is fine and no transaction is open: COMMIT answered ROLLBACK.
      expect(b.getTransactionStatus()).toBe('I');
    });
    const got = await stored('wf-race', [first, second]);
    expect(got.ledger).toEqual(['fp-first']);
    expect(got.decisions).toContain(first);
    expect(got.decisions).not.toContain(second);
  });

  it('a decision of the same request another evaluator stored without a ledger row (a refusal on a first gate): the write fails (ConcurrentFirstGate)', async () => {
    const request = randomUUID();
    await twoClients(async (a, b) => {
      // Both read before either writes; A refuses (a decision, no ledger row), B allows (both).
      const ledgerA = await begin(a, 'wf-refused', request);
      const ledgerB = await begin(b, 'wf-refused', request);
      ledgerA.recordDecision({ tenantId: 'acme', requestId: request, decision: {}, json: '{"decision":"block"}' });
      decide(ledgerB, 'wf-refused', request, 'fp-allowed');
      await ledgerA.writeAndCommit();
      await expect(ledgerB.writeAndCommit()).rejects.toBeInstanceOf(ConcurrentFirstGate);
    });
    expect(await stored('wf-refused', [request])).toEqual({ ledger: [], decisions: [request] });
  });

  it('a request another evaluator is deciding (a rebalance): the read waits for its locks and then sees its decision', async () => {
    const [earlier, request] = [randomUUID(), randomUUID()];
    await gateAlone('wf-twice', earlier, 'fp-earlier');
    await twoClients(async (a, b) => {
      const ledgerA = await begin(a, 'wf-twice', request);
      decide(ledgerA, 'wf-twice', request, 'fp-a');
      // B reads the same request while A holds the step's row: B waits on the lock until A commits.
      const loadedB = begin(b, 'wf-twice', request);
      await waitingOnLock(b);
      await ledgerA.writeAndCommit();
      const ledgerB = await loadedB;
      expect(ledgerB.decisionFor('acme', request)).toBeDefined();
      expect(ledgerB.row('acme', 'wf-twice', 's1')?.input_fingerprint).toBe('fp-a');
      await b.query('rollback');
    });
  });

  it('a first gate committed while the lock statement waited is not among the locked rows: the read counts it and the batch is read again (ConcurrentFirstGate)', async () => {
    const [earlier, requestA, requestB] = [randomUUID(), randomUUID(), randomUUID()];
    await gateAlone('wf-gap', earlier, 'fp-earlier');
    const keys = (requestId: string) =>
      ['s1', 's2'].map((stepId) => ({ tenantId: 'acme', workflowId: 'wf-gap', stepId, requestId }));
    await twoClients(async (a, b) => {
      // A holds s1's row and stores s2's first gate; B's lock statement waits on s1 meanwhile.
      const ledgerA = new BatchLedger(a);
      await Promise.all([a.query('begin'), ledgerA.load(keys(requestA))]);
      ledgerA.putRow('acme', 'wf-gap', 's1', firstGateRow('fp-a1'));
      ledgerA.putRow('acme', 'wf-gap', 's2', firstGateRow('fp-a2'));
      ledgerA.recordDecision({ tenantId: 'acme', requestId: requestA, decision: {}, json: '{}' });
      const ledgerB = new BatchLedger(b);
      const loadedB = Promise.all([b.query('begin'), ledgerB.load(keys(requestB))]);
      loadedB.catch(() => undefined);
      await waitingOnLock(b);
      await ledgerA.writeAndCommit();
      await expect(loadedB).rejects.toBeInstanceOf(ConcurrentFirstGate);
      await b.query('rollback');
      // Read again, both rows are locked and loaded.
      const again = new BatchLedger(b);
      await Promise.all([b.query('begin'), again.load(keys(requestB))]);
      expect(again.row('acme', 'wf-gap', 's2')?.input_fingerprint).toBe('fp-a2');
      expect(again.row('acme', 'wf-gap', 's1')?.input_fingerprint).toBe('fp-a1');
      await b.query('rollback');
    });
  });

  it('a write the client gave up on after sending COMMIT is CommitOutcomeUnknown: left alone, its backend commits it later', async () => {
    const request = randomUUID();
    const { failure, release } = await writeGivenUpOn('wf-late', request);
    try {
      expect(failure).toBeInstanceOf(CommitOutcomeUnknown);
      expect((await stored('wf-late', [request])).decisions).toEqual([]);
    } finally {
      await release();
    }
    await expect
      .poll(async () => (await stored('wf-late', [request])).decisions, { timeout: 5_000 })
      .toEqual([request]);
  });

  it('ending that backend first (endBackend, as the decide stage does before any redo) leaves nothing of its write; a later process with its pid is left alone', async () => {
    const request = randomUUID();
    const { failure, backend, release } = await writeGivenUpOn('wf-ended', request);
    try {
      expect(failure).toBeInstanceOf(CommitOutcomeUnknown);
      expect((failure as CommitOutcomeUnknown).backendPid).toBe(backend.pid);
      expect(await endBackend(ns.pool, backend, 5_000)).toBe(true);
    } finally {
      await release();
    }
    // Gone before the lock was released: it can commit nothing later.
    expect(await stored('wf-ended', [request])).toEqual({ ledger: [], decisions: [] });

    const live = await ns.pool.connect();
    try {
      const { pid } = await backendIdentity(live);
      // The same pid, started at another time: not the backend asked for, which is gone.
      expect(await endBackend(ns.pool, { pid, startedAt: '1' }, 1_000)).toBe(true);
      expect((await live.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
    } finally {
      live.release();
    }
  });
});
