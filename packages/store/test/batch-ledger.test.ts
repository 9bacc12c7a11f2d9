import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { BatchLedger, ConcurrentFirstGate } from '../src/index.js';

/** Answers the batch's lock and read statements with the rows given (what Postgres returned). */
function answering(answers: { locked: object[]; ledger: object[] | null }): pg.ClientBase {
  return {
    query: async (config: { name?: string }) =>
      config.name === 'stepgate-batch-ledger-lock'
        ? { rows: answers.locked }
        : { rows: [{ seen: null, workflows: null, ledger: answers.ledger, pending: null, roles: null }] },
  } as unknown as pg.ClientBase;
}

const key = { tenantId: 'acme', workflowId: 'wf', stepId: 's1', requestId: '00000000-0000-4000-8000-000000000001' };
const ledgerRow = {
  tenant_id: 'acme',
  workflow_id: 'wf',
  step_id: 's1',
  first_attempt_at: '2026-12-01T00:00:00Z',
  last_attempt_at: '2026-12-01T00:00:00Z',
};

describe('BatchLedger.load', () => {
  it('a ledger row the read saw but the lock did not (a first gate committed between them): ConcurrentFirstGate', async () => {
    const ledger = new BatchLedger(answering({ locked: [], ledger: [ledgerRow] }));
    await expect(ledger.load([key])).rejects.toBeInstanceOf(ConcurrentFirstGate);
  });

  it('rows both locked and read are loaded', async () => {
    const ledger = new BatchLedger(
      answering({ locked: [{ tenant_id: 'acme', workflow_id: 'wf', step_id: 's1' }], ledger: [ledgerRow] }),
    );
    await ledger.load([key]);
    expect(ledger.row('acme', 'wf', 's1')?.first_attempt_at).toEqual(new Date('2026-12-01T00:00:00Z'));
  });
});
