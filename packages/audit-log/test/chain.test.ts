import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { canonicalAuditEvent, newAuditEvent, type AuditEvent } from '@stepgate/contracts';
import { parseCef } from '@stepgate/test';
import {
  chain,
  cefLine,
  GENESIS_HASH,
  monthStart,
  partitionName,
  rowHash,
  utcMonth,
  type ChainHead,
} from '../src/index.js';

const ev = (tenant: string | null, outcome = 'allow'): AuditEvent =>
  newAuditEvent({ tenant_id: tenant, action: 'GateEvaluated', outcome, timestamp: '2026-11-22T00:00:00.000Z' });

describe('hash chain', () => {
  it('links each tenant separately, from the genesis hash, and any change breaks the link', () => {
    const heads = new Map<string, ChainHead>();
    const rows = chain([ev('a'), ev('b'), ev('a'), ev(null)], heads);
    expect(rows.map((r) => [r.tenantId, r.seq])).toEqual([
      ['a', 1],
      ['b', 1],
      ['a', 2],
      ['_unattributed', 1],
    ]);
    expect(rows[0]!.prevHash).toBe(GENESIS_HASH);
    expect(rows[2]!.prevHash).toBe(rows[0]!.rowHash);
    expect(rowHash(rows[0]!.rowHash, rows[2]!.event)).toBe(rows[2]!.rowHash);
    expect(rowHash(rows[0]!.rowHash, { ...rows[2]!.event, outcome: 'block' })).not.toBe(rows[2]!.rowHash);
    // Key order does not matter (RFC 8785), so a jsonb round trip verifies.
    const reordered = Object.fromEntries(Object.entries(rows[2]!.event).reverse()) as AuditEvent;
    expect(rowHash(rows[0]!.rowHash, reordered)).toBe(rows[2]!.rowHash);
  });

  it('hashes exactly what it always did: SHA-256 of the previous hash, a newline and the RFC 8785 event (non-ASCII and a lone surrogate included)', () => {
    const event: AuditEvent = {
      ...ev('tenant-é'),
      id: '0b7c2f4e-8d1a-4c3b-9e5f-6a7b8c9d0e1f',
      agent_id: 'agent 🤖',
      user_id: 'u\t1',
      workflow_id: 'wf',
      step_id: 's',
      inputs_summary: '{ q: "select \\\\ 1" } \u2028 \ud800',
      elapsed_ms: 1.5,
      decision: 'allow',
      policies_matched: ['p'],
      detail: { b: [1, { z: 'ü' }], a: null },
    };
    const [row] = chain([event], new Map([['tenant-é', { seq: 41, rowHash: 'ab'.repeat(32) }]]));
    // Computed with the Hash object's three updates before rows were hashed in one call.
    expect(row!.rowHash).toBe('f1d5c1d71ad6fb36ca762d6bc63c0f422f476c188e50fa229aafd24c55ab92d5');
    expect(row!.rowHash).toBe(
      createHash('sha256').update('ab'.repeat(32)).update('\n').update(canonicalAuditEvent(event)).digest('hex'),
    );
  });
});

describe('CEF', () => {
  it('escapes header pipes and extension equals, backslashes and newlines, and reads back', () => {
    const e = {
      ...ev('t|x'),
      action: 'GateEvaluated' as const,
      outcome: 'a|b',
      inputs_summary: 'k=v \\ x\ny|z',
      seq: 1,
      row_hash: 'h',
    };
    const parsed = parseCef(cefLine(e));
    expect(parsed.header[5]).toBe('GateEvaluated a|b');
    expect(parsed.extension).toMatchObject({ msg: 'k=v \\ x\ny|z', cs1: 't|x', act: 'a|b' });
  });

  it('rates configuration changes, of any kind, at severity 5', () => {
    const severity = (action: AuditEvent['action']) =>
      parseCef(cefLine({ ...ev('t'), action, decision: null, seq: 1, row_hash: 'h' })).header[6];
    expect(
      ['PolicyBundleApplied', 'CredentialRevoked', 'AlertThresholdChanged', 'TenantSettingsChanged'].map((a) =>
        severity(a as AuditEvent['action']),
      ),
    ).toEqual(['5', '5', '5', '5']);
    expect(severity('StepCompleted')).toBe('3');
  });
});

describe('monthly partitions', () => {
  it('names and bounds months in UTC, years below 100 included', () => {
    expect(partitionName(monthStart(new Date('2026-11-22T23:59:59Z')))).toBe('audit_log_y2026m11');
    expect(monthStart(new Date('0099-03-05T10:00:00Z')).toISOString()).toBe('0099-03-01T00:00:00.000Z');
    expect(utcMonth(2026, 12).toISOString()).toBe('2027-01-01T00:00:00.000Z');
  });
});
