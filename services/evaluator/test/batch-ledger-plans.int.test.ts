import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYED_LOOKUP_PLANS, createPool } from '@stepgate/runtime';
import { testNamespace } from '@stepgate/test';
import { BatchLedger } from '@stepgate/store';
import { firstGateRow } from './ledger-rows.js';

const ns = testNamespace('ledger-plans');
let pool: pg.Pool;

beforeAll(async () => {
  await ns.migrate();
  pool = createPool(
    { databaseUrl: ns.endpoints.databaseUrl, databaseSchema: ns.schema },
    1,
    { error: () => undefined, warn: () => undefined },
    { settings: KEYED_LOOKUP_PLANS, pipeline: true },
  );
});

afterAll(async () => {
  await pool?.end();
  await ns.cleanup();
});

async function gateOnce(client: pg.PoolClient, stepId: string, requestId: string): Promise<void> {
  await client.query('begin');
  const ledger = new BatchLedger(client);
  await ledger.load([{ tenantId: 'acme', workflowId: 'wf', stepId, requestId, userId: 'alice' }]);
  ledger.putRow('acme', 'wf', stepId, firstGateRow());
  ledger.recordDecision({
    tenantId: 'acme',
    requestId,
    decision: { request_id: requestId },
    json: JSON.stringify({ request_id: requestId }),
  });
  await ledger.writeAndCommit();
}

describe("the batch ledger's prepared statements", () => {
  it('keep looking rows up by key after being planned on new, empty tables', async () => {
    const client = await pool.connect();
    try {
      // From the sixth execution on, the generic plan (made while the tables had no rows) is cached.
      for (let i = 0; i < 400; i++) await gateOnce(client, `s-${i}`, randomUUID());
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `explain execute "stepgate-batch-ledger-load"('{acme}', '{wf}', '{s-7}', '{${randomUUID()}}', '{acme}', '{alice}')`,
      );
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      // Decisions are looked up by request id across tenants (REQUEST_ID_CONFLICT): their primary key leads with it.
      expect(plan).toMatch(/Index (Only )?Scan (using|on) gate_decisions_pkey/);
      expect(plan).not.toMatch(/Seq Scan on (step_ledger|gate_decisions|workflow_state|principals)/);
      expect(plan).not.toMatch(/Hash (Semi )?Join|Merge Join/);
      const { rows: lockRows } = await client.query<{ 'QUERY PLAN': string }>(
        `explain execute "stepgate-batch-ledger-lock"('{acme}', '{wf}', '{s-7}')`,
      );
      const lockPlan = lockRows.map((r) => r['QUERY PLAN']).join('\n');
      expect(lockPlan).toContain('Index Scan using step_ledger_pkey');
      expect(lockPlan).not.toMatch(/Seq Scan on step_ledger/);
      // Planned once per connection, never again with each batch's parameters.
      const { rows: planned } = await client.query<{ name: string; custom_plans: string }>(
        "select name, custom_plans::text from pg_prepared_statements where name like 'stepgate-batch-ledger-%' order by name",
      );
      expect(planned).toEqual([
        { name: 'stepgate-batch-ledger-flush', custom_plans: '0' },
        { name: 'stepgate-batch-ledger-load', custom_plans: '0' },
        { name: 'stepgate-batch-ledger-lock', custom_plans: '0' },
      ]);
    } finally {
      client.release();
    }
  });
});
