import { describe, expect, it } from 'vitest';
import { newAuditEvent, type AuditEvent } from '@stepgate/contracts';
import { AUDIT_TIMESTAMP_WINDOW, MAX_AUDIT_EVENT_BYTES, MAX_AUDIT_EVENT_DEPTH, readAuditEvent } from '../src/intake.js';

const NOW = Date.parse('2026-11-22T12:00:00.000Z');
const ev = (overrides: Partial<AuditEvent> = {}): AuditEvent =>
  newAuditEvent({
    tenant_id: 't',
    action: 'GateEvaluated',
    outcome: 'allow',
    timestamp: new Date(NOW).toISOString(),
    ...overrides,
  });
const bytes = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
const reasonOf = (value: Buffer | null) => {
  const r = readAuditEvent(value, NOW);
  return r.ok ? 'ok' : r.reason;
};

describe('reading an audit record, whatever its bytes', () => {
  it('accepts a valid event, and replaces NUL characters', () => {
    const r = readAuditEvent(bytes(ev({ inputs_summary: 'a\u0000b' })), NOW);
    expect(r.ok && r.event.inputs_summary).toBe('a\uFFFDb');
  });

  it('replaces lone UTF-16 surrogates (which have no UTF-8 form and which jsonb refuses), escaped in keys or values; pairs stay', () => {
    const text = JSON.stringify(ev({ inputs_summary: 'a\ud800b \ud83d\ude00', detail: { ['k\udc00']: 'v' } }));
    expect(text).toContain('\\ud800'); // JSON.stringify escapes a lone surrogate
    const r = readAuditEvent(bytes(text), NOW);
    expect(r.ok && r.event.inputs_summary).toBe('a\uFFFDb \ud83d\ude00');
    expect(r.ok && r.event.detail).toEqual({ ['k\uFFFD']: 'v' });
    // A pair escaped as Python's json.dumps writes it is left alone.
    const escapedPair = JSON.stringify(ev({ inputs_summary: 'x' })).replace('"x"', '"\\ud83d\\ude00"');
    const p = readAuditEvent(bytes(escapedPair), NOW);
    expect(p.ok && p.event.inputs_summary).toBe('\ud83d\ude00');
  });

  it('refuses deep nesting before parsing it: 100,000 levels in the detail, or as the whole value', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(reasonOf(Buffer.from(deep))).toBe('TOO_DEEP');
    const event = JSON.stringify(ev()).replace('"detail":{}', `"detail":{"x":${deep}}`);
    expect(event).toContain('[[[[');
    expect(reasonOf(Buffer.from(event))).toBe('TOO_DEEP');
    const objects = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    expect(reasonOf(Buffer.from(objects))).toBe('TOO_DEEP');
    // Brackets inside strings are text, not nesting.
    expect(reasonOf(bytes(ev({ inputs_summary: '['.repeat(10_000) + '"\\' })))).toBe('ok');
    let atLimit: unknown = 1;
    for (let i = 0; i < MAX_AUDIT_EVENT_DEPTH - 2; i++) atLimit = [atLimit];
    expect(reasonOf(bytes(ev({ detail: { x: atLimit } })))).toBe('ok');
    expect(reasonOf(bytes(ev({ detail: { x: [atLimit] } })))).toBe('TOO_DEEP');
  });

  it('refuses oversize, empty, non-UTF-8 and non-JSON values', () => {
    expect(reasonOf(Buffer.alloc(MAX_AUDIT_EVENT_BYTES + 1, 0x20))).toBe('OVERSIZE');
    expect(reasonOf(null)).toBe('NOT_UTF8_JSON');
    expect(reasonOf(Buffer.alloc(0))).toBe('NOT_UTF8_JSON');
    expect(reasonOf(Buffer.concat([bytes(ev()).subarray(0, 20), Buffer.from([0xff, 0xfe])]))).toBe('NOT_UTF8_JSON');
    expect(reasonOf(Buffer.from('\u0000\u001b[2J'))).toBe('NOT_UTF8_JSON');
    expect(reasonOf(Buffer.from(']]]]}}}'))).toBe('NOT_UTF8_JSON');
  });

  it('refuses wrong types with the schema reason, echoing no value', () => {
    const r = readAuditEvent(bytes({ ...ev(), elapsed_ms: '\u001b[31mred', tenant_id: 7 }), NOW);
    expect(r.ok ? 'ok' : r.reason).toBe('INVALID_AUDIT_EVENT');
    expect(r.ok ? '' : r.detail).not.toContain('\u001b');
    expect(reasonOf(bytes([ev()]))).toBe('INVALID_AUDIT_EVENT');
    expect(reasonOf(bytes('"just a string"'))).toBe('INVALID_AUDIT_EVENT');
  });

  it('refuses timestamps outside the window: the future past clock skew, and before ten years ago', () => {
    const at = (ms: number) => reasonOf(bytes(ev({ timestamp: new Date(ms).toISOString() })));
    expect(at(NOW + AUDIT_TIMESTAMP_WINDOW.futureMs)).toBe('ok');
    expect(at(NOW + AUDIT_TIMESTAMP_WINDOW.futureMs + 1_000)).toBe('TIMESTAMP_OUT_OF_RANGE');
    expect(at(NOW + 365 * 86_400_000)).toBe('TIMESTAMP_OUT_OF_RANGE');
    expect(at(NOW - AUDIT_TIMESTAMP_WINDOW.pastMs)).toBe('ok');
    expect(at(NOW - AUDIT_TIMESTAMP_WINDOW.pastMs - 1_000)).toBe('TIMESTAMP_OUT_OF_RANGE');
    expect(reasonOf(bytes(ev({ timestamp: '0000-06-01T00:00:00Z' })))).toBe('TIMESTAMP_OUT_OF_RANGE');
    expect(reasonOf(bytes(ev({ timestamp: '9999-12-31T23:59:59+14:00' })))).toBe('TIMESTAMP_OUT_OF_RANGE');
  });
});
