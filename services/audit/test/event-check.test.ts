import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AUDIT_ACTIONS, AuditEventSchema, newAuditEvent, type AuditEvent } from '@stepgate/contracts';
import { asAuditEvent } from '../src/event-check.js';

const nullableString = fc.option(fc.string(), { nil: null });
const validEvent: fc.Arbitrary<AuditEvent> = fc
  .record(
    {
      tenant_id: nullableString,
      agent_id: nullableString,
      execution_id: nullableString,
      action: fc.constantFrom(...AUDIT_ACTIONS),
      outcome: fc.string(),
      inputs_summary: fc.string({ unit: 'binary' }),
      elapsed_ms: fc.double({ min: 0, max: 1e12, noNaN: true }),
      decision: fc.constantFrom('allow', 'block', 'require_approval', null),
      policies_matched: fc.array(fc.string()),
      detail: fc.dictionary(fc.string(), fc.jsonValue()),
      policy_version: fc.option(
        fc.record({ version: fc.integer({ min: 1, max: 1e6 }), sha256: fc.stringMatching(/^[0-9a-f]{64}$/) }),
        { nil: undefined },
      ),
    },
    { requiredKeys: ['action', 'outcome', 'detail'] },
  )
  .map((f) => newAuditEvent({ tenant_id: 't', ...f }));
/** What the consumer reads: the event as JSON text, parsed. */
const asRead = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

/** asAuditEvent only answers where the schema accepts, with what the schema returns. */
function agreesWithSchema(json: unknown): AuditEvent | undefined {
  const fast = asAuditEvent(json);
  if (fast !== undefined) {
    const parsed = AuditEventSchema.safeParse(json);
    expect(parsed.success).toBe(true);
    expect(fast).toStrictEqual(parsed.data);
    expect(fast).toBe(json); // no copy
  }
  return fast;
}

describe('asAuditEvent: the schema check without the schema copy', () => {
  it('takes every valid event as it was parsed, and returns what the schema returns', () => {
    fc.assert(
      fc.property(validEvent, (event) => {
        const json = asRead(event) as Record<string, unknown>;
        const fast = agreesWithSchema(json);
        // A "__proto__" key in the detail is the schema's to drop: left to it.
        expect(fast === undefined).toBe(Object.hasOwn(json.detail as object, '__proto__'));
      }),
      { numRuns: 500 },
    );
  });

  it('leaves to the schema any field of a wrong type, a missing field, an extra field or a policy version with more keys', () => {
    const field = fc.constantFrom(...Object.keys(AuditEventSchema.shape), 'extra', '__proto__');
    fc.assert(
      fc.property(validEvent, field, fc.option(fc.jsonValue(), { nil: undefined }), (event, key, value) => {
        const json = asRead(event) as Record<string, unknown>;
        if (value === undefined) delete json[key];
        else Object.defineProperty(json, key, { value, enumerable: true, configurable: true, writable: true });
        agreesWithSchema(json);
      }),
      { numRuns: 1000 },
    );
    const event = asRead(newAuditEvent({ tenant_id: 't', action: 'GateEvaluated', outcome: 'allow' })) as AuditEvent;
    const refused = [
      { ...event, extra: 1 },
      { ...event, policy_version: { version: 1, sha256: 'a'.repeat(64), extra: 1 } },
      { ...event, policy_version: { version: 1.5, sha256: 'a'.repeat(64) } },
      { ...event, policy_version: null },
      { ...event, id: 'not-a-uuid' },
      { ...event, timestamp: '2026-13-01T00:00:00Z' },
      { ...event, elapsed_ms: -1 },
      { ...event, action: 'toString' },
      { ...event, decision: 'maybe' },
      { ...event, policies_matched: ['a', 1] },
      { ...event, detail: [] },
      { ...event, detail: JSON.parse('{"__proto__":{"x":1}}') as Record<string, unknown> },
      { ...event, tenant_id: undefined },
      [event],
      null,
      'event',
    ];
    for (const json of refused) expect(agreesWithSchema(json)).toBeUndefined();
  });

  it('agrees with the schema on arbitrary JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (json) => {
        agreesWithSchema(json);
      }),
      { numRuns: 500 },
    );
  });
});
