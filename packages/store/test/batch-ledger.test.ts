import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { BatchLedger, ConcurrentFirstGate } from '../src/index.js';

/**
 * Answers the batch's lock statement with the ledger rows given (what Postgres returned), and its read
 * with the count of ledger rows it saw (by default, as many as were locked) and nothing else.
 */
function answering(locked: object[], ledgerRowsRead = locked.length): pg.ClientBase {
  return {
    query: async (config: { name?: string }) =>
      config.name === 'stepgate-batch-ledger-lock'
        ? { rows: locked.map((row) => ({ row })) }
        : { rows: [{ ledger_rows: ledgerRowsRead, seen: null, workflows: null, pending: null, roles: null }] },
  } as unknown as pg.ClientBase;
}

const key = { tenantId: 'acme', workflowId: 'wf', stepId: 's1', requestId: '00000000-0000-4000-8000-000000000001' };
const ledgerRow = {
  tenant_id: 'acme',
  workflow_id: 'wf',
  step_id: 's1',
  gate_count: 2,
  first_attempt_at: '2026-12-01T00:00:00+00:00',
  last_attempt_at: '2026-12-01T00:05:00+00:00',
};

describe('BatchLedger.load', () => {
  it('the rows the lock statement returns are the ledger rows (as they are once locked)', async () => {
    const ledger = new BatchLedger(answering([ledgerRow]));
    await ledger.load([key]);
    expect(ledger.row('acme', 'wf', 's1')).toMatchObject({
      gate_count: 2,
      first_attempt_at: new Date('2026-12-01T00:00:00Z'),
      last_attempt_at: new Date('2026-12-01T00:05:00Z'),
    });
  });

  it('a step the lock statement returned no row for has none (its first gate)', async () => {
    const ledger = new BatchLedger(answering([]));
    await ledger.load([key]);
    expect(ledger.row('acme', 'wf', 's1')).toBeUndefined();
  });

  it('the read counting more ledger rows than were locked (a first gate committed between the two): ConcurrentFirstGate', async () => {
    const ledger = new BatchLedger(answering([], 1));
    await expect(ledger.load([key])).rejects.toBeInstanceOf(ConcurrentFirstGate);
  });
});
