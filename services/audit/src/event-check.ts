import { AUDIT_ACTIONS, AuditEventSchema, DECISIONS, type AuditEvent } from '@stepgate/contracts';

const shape = AuditEventSchema.shape;
const ACTIONS: ReadonlySet<unknown> = new Set(AUDIT_ACTIONS);
const DECISION_VALUES: ReadonlySet<unknown> = new Set(DECISIONS);

const isString = (v: unknown): boolean => typeof v === 'string';
const isNullableString = (v: unknown): boolean => v === null || typeof v === 'string';
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === Object.prototype;
/** The contract's own check of one string field (its uuid or datetime pattern), without an object tree. */
const passes =
  (schema: { safeParse(v: unknown): { success: boolean } }) =>
  (v: unknown): boolean =>
    typeof v === 'string' && schema.safeParse(v).success;
const { version: policyVersionNumber, sha256: policyVersionSha256 } = shape.policy_version.unwrap().shape;

/**
 * For each field of the contract's audit event, a check that accepts only values its schema accepts
 * and returns unchanged (no key it would strip, no `__proto__` key a record would drop).
 */
const FIELD_CHECKS: Record<keyof typeof shape, (v: unknown) => boolean> = {
  id: passes(shape.id),
  timestamp: passes(shape.timestamp),
  tenant_id: isNullableString,
  agent_id: isNullableString,
  session_id: isNullableString,
  user_id: isNullableString,
  workflow_id: isNullableString,
  execution_id: isNullableString,
  step_id: isNullableString,
  action: (v) => ACTIONS.has(v),
  outcome: isString,
  inputs_summary: isString,
  elapsed_ms: (v) => typeof v === 'number' && v >= 0 && Number.isFinite(v),
  decision_id: isNullableString,
  decision: (v) => v === null || DECISION_VALUES.has(v),
  policies_matched: (v) => Array.isArray(v) && v.every(isString),
  error_code: isNullableString,
  detail: (v) => isPlainObject(v) && !Object.hasOwn(v, '__proto__'),
  policy_version: (v) =>
    isPlainObject(v) &&
    Object.keys(v).length === 2 &&
    policyVersionNumber.safeParse(v.version).success &&
    passes(policyVersionSha256)(v.sha256),
};
const FIELDS = Object.entries(FIELD_CHECKS);
const OPTIONAL_FIELDS: ReadonlySet<string> = new Set(
  Object.entries(shape)
    .filter(([, schema]) => schema.safeParse(undefined).success)
    .map(([key]) => key),
);

/**
 * The parsed JSON itself as an AuditEvent when it is one exactly as `AuditEventSchema.parse` would
 * return it (same fields, same values), else undefined: the caller then asks the schema, which also
 * says what is wrong. Valid events thus skip the schema's copy of every event.
 */
export function asAuditEvent(json: unknown): AuditEvent | undefined {
  if (!isPlainObject(json)) return undefined;
  let known = 0;
  for (const [key, check] of FIELDS) {
    const value = json[key];
    if (value === undefined) {
      if (!OPTIONAL_FIELDS.has(key) || Object.hasOwn(json, key)) return undefined;
      continue;
    }
    if (!check(value)) return undefined;
    known++;
  }
  let own = 0;
  for (const key in json) if (Object.hasOwn(json, key)) own++;
  return own === known ? (json as unknown as AuditEvent) : undefined; // another key: the schema strips it
}
