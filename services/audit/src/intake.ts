import {
  AuditEventSchema,
  MAX_JSON_DEPTH,
  jsonTextDepth,
  replaceUnstorable,
  type AuditEvent,
  type DlqReason,
} from '@stepgate/contracts';
import { asAuditEvent } from './event-check.js';

/** A `\\udXXX` escape in JSON text: half of a surrogate pair, or a lone surrogate. */
const ESCAPED_SURROGATE = /\\u[dD][89a-fA-F]/;

/**
 * The largest audit event read: the broker's default message limit. Larger than a gate request's
 * MAX_VALUE_BYTES because an audit event carries a summary of a request plus its own fields.
 */
export const MAX_AUDIT_EVENT_BYTES = 1024 * 1024;
/** Deepest audit event read: its `detail` nests values of requests (MAX_JSON_DEPTH) a few levels down. */
export const MAX_AUDIT_EVENT_DEPTH = MAX_JSON_DEPTH + 8;

/**
 * Event times the audit service accepts, around its own clock. Services stamp events when they
 * produce them, so only clock skew puts one in the future: an event further ahead would mute the
 * windowed alerts (a block spike's window and quiet time follow the newest event) until then.
 * Ten years back bounds the monthly partitions an event can make the consumer create, and leaves
 * room for any consumer lag the topic's retention allows. Outside: dlq, `TIMESTAMP_OUT_OF_RANGE`.
 */
export const AUDIT_TIMESTAMP_WINDOW = { futureMs: 5 * 60_000, pastMs: 3653 * 86_400_000 } as const;

export type AuditIntake = { ok: true; event: AuditEvent } | { ok: false; reason: DlqReason; detail: string };

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes one record of the `audit` topic, whatever its bytes: size and nesting are checked on the
 * raw bytes before anything recursive (JSON.parse, the schema, NUL replacement) sees them. The
 * audit consumer sends refusals to the dlq with their reason; the alerts consumer skips them.
 */
export function readAuditEvent(value: Buffer | null, now = Date.now()): AuditIntake {
  if (!value || value.length === 0) return { ok: false, reason: 'NOT_UTF8_JSON', detail: 'empty value' };
  if (value.length > MAX_AUDIT_EVENT_BYTES)
    return {
      ok: false,
      reason: 'OVERSIZE',
      detail: `value is ${value.length} bytes; the limit is ${MAX_AUDIT_EVENT_BYTES}`,
    };
  if (
    !openersAtMost(value, MAX_AUDIT_EVENT_DEPTH) &&
    jsonTextDepth(value, MAX_AUDIT_EVENT_DEPTH) > MAX_AUDIT_EVENT_DEPTH
  )
    return { ok: false, reason: 'TOO_DEEP', detail: `value nests deeper than ${MAX_AUDIT_EVENT_DEPTH} levels` };
  let text: string;
  let json: unknown;
  try {
    text = UTF8.decode(value);
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'NOT_UTF8_JSON', detail: 'the value is not JSON' };
  }
  // Postgres cannot store NUL characters or lone UTF-16 surrogates; an event carrying one (e.g. the
  // audit of a request refused for it) is kept with U+FFFD in their place rather than lost. JSON can
  // only carry them escaped (a surrogate pair may be escaped too: the replacement leaves pairs alone).
  if (text.includes('\\u0000') || ESCAPED_SURROGATE.test(text)) json = replaceUnstorable(json);
  const event = asAuditEvent(json);
  if (event) return inTimeWindow(event, now);
  const parsed = AuditEventSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      reason: 'INVALID_AUDIT_EVENT',
      detail: `${issue?.path.join('.').slice(0, 200) || '(root)'}: ${issue?.message ?? 'invalid'}`,
    };
  }
  return inTimeWindow(parsed.data, now);
}

/**
 * Whether the value holds at most `limit` opening brackets (in strings or not): then it cannot nest
 * deeper than `limit`, which native byte searches tell faster than scanning for its nesting.
 */
function openersAtMost(value: Buffer, limit: number): boolean {
  let openers = 0;
  for (const bracket of OPENING_BRACKETS)
    for (let i = value.indexOf(bracket); i !== -1; i = value.indexOf(bracket, i + 1))
      if (++openers > limit) return false;
  return true;
}
const OPENING_BRACKETS = [0x7b, 0x5b]; // { and [

function inTimeWindow(event: AuditEvent, now: number): AuditIntake {
  const t = Date.parse(event.timestamp);
  if (!(t <= now + AUDIT_TIMESTAMP_WINDOW.futureMs && t >= now - AUDIT_TIMESTAMP_WINDOW.pastMs))
    return {
      ok: false,
      reason: 'TIMESTAMP_OUT_OF_RANGE',
      detail: `timestamp ${event.timestamp} is more than ${t > now ? '5 minutes ahead of' : '10 years before'} ${new Date(now).toISOString()}`,
    };
  return { ok: true, event };
}
