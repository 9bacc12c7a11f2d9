import { header, type ReceivedHeaders } from '@stepgate/messaging';
import type { z } from 'zod';
import { createHash } from 'node:crypto';
import {
  clip,
  answerableId,
  echoable,
  findUnacceptable,
  UNACCEPTABLE_MESSAGES,
  KEY_ID_PATTERN,
  GateRequestSchema,
  StepCompletionSchema,
  HEADER_KEY_ID,
  HEADER_SIGNATURE,
  MAX_JSON_DEPTH,
  MAX_VALUE_BYTES,
  jsonDepth,
  type DlqReason,
  type GateErrorCode,
  type GateRequest,
} from '@stepgate/contracts';
import type { ReplyToAllowance } from '@stepgate/store';
import type { KeyObject } from 'node:crypto';
import type { Credential, CredentialStore } from './credentials.js';
import { replyToRefusal } from './reply-to.js';

/** What a raw message turned out to be. */
export type Intake<T> =
  | { kind: 'dlq'; reason: DlqReason; detail: string }
  | {
      kind: 'rejected';
      attribution: Attribution;
      tenantId: string | null;
      credential: Credential | undefined;
      code: GateErrorCode;
      message: string;
      details?: unknown;
    }
  | { kind: 'accepted'; attribution: Attribution; credential: Credential; body: T };

/**
 * What identifies a message well enough to answer it, read from the raw JSON before validation. Only
 * bounded strings are kept (`echoable`): a refusal never echoes what an attacker sized.
 */
export interface Attribution {
  id: string;
  workflow_id: string | null;
  step_id: string | null;
  /** Bounded string fields of the raw message that audit events may carry. */
  echo: {
    agent_id: string | null;
    session_id: string | null;
    user_id: string | null;
    claimed_tenant_id: string | null;
    requested_at: string | null;
  };
  /** The decoded message, once it passed the size, depth, NUL and reserved-key checks; else null. */
  doc: Record<string, unknown> | null;
  /** SHA-256 (hex) of the exact bytes received: what the requester signed, echoed in its decision. */
  request_sha256: string;
  /** The signing key named in the message's header, when it is well-formed. */
  key_id: string | null;
}

/** Issues listed in an INVALID_REQUEST refusal (the message says how many there were). */
const MAX_REPORTED_ISSUES = 10;

/** Refuses invalid UTF-8 instead of replacing it. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Kafka's default max.message.bytes: anything up to it is worth parsing to attribute a rejection. */
const ATTRIBUTION_PARSE_LIMIT = 1024 * 1024;

/** A kind of signed message the evaluator takes: its schema, the field naming it, and its time field. */
export interface MessageKind<S extends z.ZodType> {
  schema: S;
  idField: string;
  timeField: string;
  /** Whether the message may name a `reply_to`, checked against its tenant's allowance. */
  repliesTo?: boolean;
}

export const GATE_REQUEST: MessageKind<typeof GateRequestSchema> = {
  schema: GateRequestSchema,
  idField: 'request_id',
  timeField: 'requested_at',
  repliesTo: true,
};

export const STEP_COMPLETION: MessageKind<typeof StepCompletionSchema> = {
  schema: StepCompletionSchema,
  idField: 'completion_id',
  timeField: 'completed_at',
};

export interface IntakeOptions<S extends z.ZodType> {
  schema: S;
  /** The field naming the message (request_id, completion_id). */
  idField: string;
  credentials: CredentialStore;
  /** Whether `signature` (base64url, as the header carries it) is the key's signature of `bytes`. */
  verify: (check: { publicKey: KeyObject; bytes: Uint8Array; signature: string }) => Promise<boolean>;
  now: number;
  maxClockSkewMs: number;
  /** The field holding the sender's time, checked against the skew. */
  timeField: string;
  /** Gate requests: where the sender's tenant allows `reply_to` to point. */
  replyToAllowance?: (tenantId: string) => Promise<ReplyToAllowance>;
}

/**
 * Decodes and authenticates one signed message: JSON, attribution, size, depth and unstorable text
 * (refused whoever sent it, under the signer's tenant when its signature verifies), signature and
 * credential, schema, tenant claim, freshness — in that order, each failure specific.
 */
export async function intake<S extends z.ZodType>(
  value: Buffer | null,
  headers: ReceivedHeaders | undefined,
  o: IntakeOptions<S>,
): Promise<Intake<z.infer<S>>> {
  if (!value || value.length === 0) return { kind: 'dlq', reason: 'NOT_UTF8_JSON', detail: 'empty value' };
  if (value.length > ATTRIBUTION_PARSE_LIMIT)
    return { kind: 'dlq', reason: 'OVERSIZE', detail: `value is ${value.length} bytes` };
  let raw: unknown;
  try {
    raw = JSON.parse(UTF8.decode(value));
  } catch (err) {
    return { kind: 'dlq', reason: 'NOT_UTF8_JSON', detail: err instanceof Error ? err.message : String(err) };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    return { kind: 'dlq', reason: 'NOT_UTF8_JSON', detail: 'value is not a JSON object' };
  const doc = raw as Record<string, unknown>;
  const id = doc[o.idField];
  // An id a refusal could not echo as it is (a NUL or a lone surrogate in it) cannot be answered either.
  if (!answerableId(id)) return { kind: 'dlq', reason: 'NO_REQUEST_ID', detail: `no ${o.idField} string to answer to` };
  const headerKeyId = header(headers, HEADER_KEY_ID);
  const keyId = headerKeyId !== undefined && KEY_ID_PATTERN.test(headerKeyId) ? headerKeyId : null;
  const attribution: Attribution = {
    id,
    workflow_id: echoable(doc.workflow_id),
    step_id: echoable(doc.step_id),
    echo: {
      agent_id: echoable(doc.agent_id),
      session_id: echoable(doc.session_id),
      user_id: echoable(doc.user_id),
      claimed_tenant_id: echoable(doc.tenant_id),
      requested_at: echoable(doc[o.timeField]),
    },
    doc: null,
    request_sha256: createHash('sha256').update(value).digest('hex'),
    key_id: keyId,
  };
  const reject = (
    code: GateErrorCode,
    message: string,
    credential?: Credential,
    details?: unknown,
  ): Intake<z.infer<S>> => ({
    kind: 'rejected',
    attribution,
    // A message that did not prove its key is nobody's: it is not filed under the key's tenant.
    tenantId: code === 'UNAUTHENTICATED' ? null : (credential?.tenantId ?? null),
    credential,
    code,
    message,
    ...(details === undefined ? {} : { details }),
  });

  /** The credential that signed the message, or the refusal saying why none did. */
  const authenticate = async (): Promise<{ credential: Credential } | { refusal: Intake<z.infer<S>> }> => {
    const signature = header(headers, HEADER_SIGNATURE);
    if (headerKeyId === undefined || !signature)
      return { refusal: reject('UNAUTHENTICATED', `missing ${HEADER_KEY_ID} or ${HEADER_SIGNATURE} header`) };
    if (!keyId)
      return {
        refusal: reject('UNAUTHENTICATED', `${HEADER_KEY_ID}: not a key id (expected ${KEY_ID_PATTERN.source})`),
      };
    const credential = await o.credentials.get(keyId);
    if (!credential) return { refusal: reject('UNAUTHENTICATED', `unknown key id "${keyId}"`) };
    if (credential.revoked) return { refusal: reject('UNAUTHENTICATED', `key "${keyId}" is revoked`, credential) };
    if (!(await o.verify({ publicKey: credential.publicKey, bytes: value, signature })))
      return { refusal: reject('UNAUTHENTICATED', `signature does not verify with key "${keyId}"`, credential) };
    return { credential };
  };

  // An oversize value is verified too (the same cost per byte as any request's), so that a client of
  // any language gets its refusal; its contents are not walked.
  const problem =
    value.length > MAX_VALUE_BYTES
      ? `value is ${value.length} bytes; the limit is ${MAX_VALUE_BYTES}`
      : shapeProblem(doc);
  const authenticated = await authenticate();
  // Refused whoever sent it; filed under the tenant (so its client takes the answer) only when its key signed it.
  if (problem)
    return reject('INVALID_REQUEST', problem, 'credential' in authenticated ? authenticated.credential : undefined);
  if ('refusal' in authenticated) return authenticated.refusal;
  const { credential } = authenticated;

  // Only a message its key signed has its inputs summarized (audit rows, approvers' view).
  attribution.doc = doc;
  const parsed = o.schema.safeParse(doc);
  if (!parsed.success) {
    // Unknown keys and wrong values are named, never echoed at the attacker's length.
    const issues = parsed.error.issues.slice(0, MAX_REPORTED_ISSUES).map((i) => ({
      path: clip(i.path.map(String).join('.') || '(root)', 120),
      message: clip(i.message),
    }));
    return reject('INVALID_REQUEST', issues.map((i) => `${i.path}: ${i.message}`).join('; '), credential, { issues });
  }
  const claimed = doc.tenant_id;
  if (claimed !== undefined && claimed !== credential.tenantId)
    return reject(
      'TENANT_MISMATCH',
      `tenant_id ${clip(JSON.stringify(claimed), 80)} is not the credential's tenant`,
      credential,
    );
  const sentAt = Date.parse(String(doc[o.timeField]));
  if (Math.abs(o.now - sentAt) > o.maxClockSkewMs)
    return reject(
      'STALE_REQUEST',
      `${o.timeField} is ${Math.round((o.now - sentAt) / 1000)} s from the evaluator's clock; the limit is ±${o.maxClockSkewMs / 1000} s`,
      credential,
    );
  if (o.replyToAllowance) {
    const replyTo = (parsed.data as { reply_to?: GateRequest['reply_to'] }).reply_to;
    const refused = replyTo && replyToRefusal(replyTo, await o.replyToAllowance(credential.tenantId));
    if (refused) return reject('REPLY_TO_NOT_ALLOWED', refused, credential);
  }
  return { kind: 'accepted', attribution, credential, body: parsed.data };
}

/** Why a request's shape is refused whoever sent it (too deep, text Postgres cannot store, a reserved key). */
function shapeProblem(doc: Record<string, unknown>): string | undefined {
  const depth = jsonDepth(doc);
  if (depth > MAX_JSON_DEPTH) return `value nests ${depth} levels deep; the limit is ${MAX_JSON_DEPTH}`;
  const unacceptable = findUnacceptable(doc);
  return unacceptable && `${clip(unacceptable.path)}: ${UNACCEPTABLE_MESSAGES[unacceptable.kind]}`;
}
