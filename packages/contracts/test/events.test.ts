import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { canonicalAuditEvent, canonicalJson, newAuditEvent, AuditEventSchema, type AuditEvent } from '../src/index.js';

const nullableString = fc.option(fc.string(), { nil: null });

const auditEvent: fc.Arbitrary<AuditEvent> = fc
  .record({
    tenant_id: nullableString,
    agent_id: nullableString,
    workflow_id: nullableString,
    step_id: nullableString,
    outcome: fc.string(),
    inputs_summary: fc.string({ unit: 'binary' }),
    elapsed_ms: fc.double({ min: 0, max: 1e12, noNaN: true }),
    policies_matched: fc.array(fc.string({ unit: 'grapheme' })),
    detail: fc.dictionary(fc.string(), fc.jsonValue()),
  })
  .map((f) => newAuditEvent({ ...f, action: 'GateEvaluated' }));

const versionedAuditEvent: fc.Arbitrary<AuditEvent> = fc
  .tuple(auditEvent, fc.integer({ min: 1, max: 1e6 }), fc.stringMatching(/^[0-9a-f]{64}$/))
  .map(([event, version, sha256]) => ({ ...event, policy_version: { version, sha256 } }));

describe('canonicalAuditEvent', () => {
  it('is byte for byte the RFC 8785 form canonicalJson gives, for any event', () => {
    fc.assert(
      fc.property(auditEvent, (event) => {
        expect(canonicalAuditEvent(event)).toBe(canonicalJson(event));
      }),
      { numRuns: 500 },
    );
  });

  it('is the same for events that name their policy version, and for events before the field existed', () => {
    fc.assert(
      fc.property(versionedAuditEvent, (event) => {
        expect(canonicalAuditEvent(event)).toBe(canonicalJson(event));
        const { policy_version: _v, ...old } = event;
        // Compared with the parsed event: zod drops a "__proto__" key of a record, which the generator can produce.
        const parsed = AuditEventSchema.parse(old);
        expect(parsed).not.toHaveProperty('policy_version');
        expect(canonicalAuditEvent(parsed)).toBe(canonicalJson(parsed));
      }),
      { numRuns: 200 },
    );
  });

  it('does not depend on key order, so an event read back from jsonb gives the same text', () => {
    const event = newAuditEvent({
      tenant_id: 't',
      action: 'GateEvaluated',
      outcome: 'allow',
      detail: { b: 1, a: { d: [2, { z: 1, y: 0 }], c: 'x' } },
    });
    const reordered = AuditEventSchema.parse(
      JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(event).reverse()))),
    );
    expect(canonicalAuditEvent(reordered)).toBe(canonicalAuditEvent(event));
  });

  it('orders keys JavaScript lists first ("10" before "9" in RFC 8785) and keeps a "__proto__" key, at any depth', () => {
    const details = ['{"9":1,"10":2,"a":[{"2":0,"11":0}]}', '{"b":{"__proto__":{"x":1},"a":1},"é":1,"z":"\\u2028"}'];
    const [indexKeys, protoKey] = details.map((d) =>
      newAuditEvent({
        tenant_id: 't',
        action: 'GateEvaluated',
        outcome: 'allow',
        detail: JSON.parse(d) as Record<string, unknown>,
      }),
    );
    expect(canonicalAuditEvent(indexKeys!)).toBe(canonicalJson(indexKeys));
    expect(canonicalAuditEvent(indexKeys!)).toContain('"detail":{"10":2,"9":1,"a":[{"11":0,"2":0}]}');
    expect(canonicalAuditEvent(protoKey!)).toBe(canonicalJson(protoKey));
    expect(canonicalAuditEvent(protoKey!)).toContain('"detail":{"b":{"__proto__":{"x":1},"a":1}');
  });

  it('falls back to the general form for an object that is not the schema shape', () => {
    const extra = {
      ...newAuditEvent({ tenant_id: 't', action: 'GateEvaluated', outcome: 'allow' }),
      extra: { b: 1, a: 2 },
    } as AuditEvent;
    expect(canonicalAuditEvent(extra)).toBe(canonicalJson(extra));
  });
});
