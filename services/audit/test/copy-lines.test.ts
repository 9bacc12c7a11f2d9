import { describe, expect, it } from 'vitest';
import { newAuditEvent, type AuditEvent } from '@stepgate/contracts';
import { chain } from '@stepgate/audit-log';
import { copyLines } from '../src/store.js';

const ev = (tenant: string | null, outcome = 'allow'): AuditEvent =>
  newAuditEvent({ tenant_id: tenant, action: 'GateEvaluated', outcome, timestamp: '2026-11-22T00:00:00.000Z' });

/** Reads one line of COPY's text format back into its fields (\\N is NULL). */
function readCopyLine(line: string): Array<string | null> {
  expect(line.endsWith('\n')).toBe(true);
  const unescape: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };
  return line
    .slice(0, -1)
    .split('\t')
    .map((f) => (f === '\\N' ? null : f.replace(/\\(.)/g, (_, c: string) => unescape[c]!)));
}

describe('COPY rows', () => {
  it('escape tab, newline, carriage return and backslash in every text column, the event JSON and the policy array', () => {
    const nasty = 'a\tb\nc\rd\\e "q"';
    const e: AuditEvent = {
      ...ev('t\tx'),
      agent_id: nasty,
      user_id: null,
      inputs_summary: nasty,
      outcome: nasty,
      error_code: 'E\\1',
      policies_matched: ['p"1', 'p\\2', 'p\t3'],
      detail: { note: nasty },
    };
    const [row] = chain([e], new Map());
    const fields = readCopyLine(copyLines([row!])[0]!);
    expect(fields).toHaveLength(21);
    expect(fields.slice(0, 6)).toEqual([e.id, e.timestamp, 't\tx', nasty, null, null]);
    expect([fields[10], fields[11], fields[16]]).toEqual([nasty, nasty, 'E\\1']);
    expect(fields[15]).toBe('{"p\\"1","p\\\\2","p\t3"}');
    expect(fields[17]).toBe(row!.canonical);
    expect(JSON.parse(fields[17]!)).toEqual(e);
    expect(fields.slice(18)).toEqual([String(row!.seq), row!.prevHash, row!.rowHash]);
  });
});
