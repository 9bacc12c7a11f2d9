import type { AuditEvent } from '@stepgate/contracts';

/**
 * An audit row in COPY's text format up to and including the tab before `seq`: every column the event
 * alone decides (`canonical`: its RFC 8785 form, stored as `event`). The chain's three columns follow:
 * `${seq}\t${prevHash}\t${rowHash}\n`.
 */
export function copyLineHead(e: AuditEvent, tenantId: string, canonical: string): string {
  // id, timestamp, numbers and hex hashes have no character COPY escapes (the schema checked their form).
  return (
    `${e.id}\t${e.timestamp}\t${copyField(tenantId)}\t${copyField(e.agent_id)}\t${copyField(e.session_id)}\t${copyField(e.user_id)}\t` +
    `${copyField(e.workflow_id)}\t${copyField(e.execution_id)}\t${copyField(e.step_id)}\t${e.action}\t${copyField(e.inputs_summary)}\t` +
    `${copyField(e.outcome)}\t${e.elapsed_ms}\t${copyField(e.decision_id)}\t${e.decision ?? '\\N'}\t${copyField(pgTextArray(e.policies_matched))}\t` +
    `${copyField(e.error_code)}\t${copyJsonField(canonical)}\t`
  );
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

/** COPY text format: NULL is \N; backslash, tab, newline and carriage return are escaped. */
function copyField(v: string | null): string {
  if (v === null) return '\\N';
  return COPY_SPECIAL.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]!) : v;
}

/** JSON text holds no raw tab, newline or carriage return (JSON escapes them), so only backslashes need escaping. */
function copyJsonField(json: string): string {
  return json.includes('\\') ? json.replaceAll('\\', '\\\\') : json;
}

/** A Postgres text[] literal: every element double-quoted, quotes and backslashes escaped. */
function pgTextArray(values: readonly string[]): string {
  if (values.length === 0) return '{}';
  return `{${values.map((v) => `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`).join(',')}}`;
}
