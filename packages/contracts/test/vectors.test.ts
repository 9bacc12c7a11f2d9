import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  actionDigest,
  approvalStatementBytes,
  canonicalJson,
  GATE_ERROR_CODES,
  answerableId,
  KEY_ID_PATTERN,
  MAX_ANSWERABLE_ID_CHARS,
  MAX_ECHO_CHARS,
  MAX_VALUE_BYTES,
  GateDecisionSchema,
  hasTenantDecisionTopic,
  tenantDecisionTopic,
  GateRequestSchema,
  ReceiptKeySetSchema,
  type ActionDigestInput,
  type ApprovalStatement,
} from '../src/index.js';
import {
  approvalIdFor,
  privateKeyFromPem,
  publicKeyFromPem,
  signBytes,
  verifyBytes,
  verifyReceipt,
} from '../src/node.js';

// The shared vectors: the Python client's tests (clients/python/tests/test_vectors.py) assert the same file.
const vectors = JSON.parse(readFileSync(new URL('./vectors/stepgate-vectors.json', import.meta.url), 'utf8')) as {
  keys: Record<string, { key_id: string; private_key_pem: string; public_key_pem: string }>;
  receipt_keys: unknown;
  gate_error_codes: string[];
  limits: { max_value_bytes: number; max_echo_chars: number; max_answerable_id_chars: number; key_id_pattern: string };
  request_ids: Array<{ id: string; answerable: boolean; valid: boolean }>;
  canonical_json: Array<{ input: string; canonical: string }>;
  requests: Array<{ request: unknown; value_utf8: string; key_id: string; signature: string; sha256: string }>;
  decisions: Record<'valid' | 'invalid', Array<{ name: string; decision: Record<string, unknown> }>>;
  approval_ids: Array<{ tenant_id: string; workflow_id: string; step_id: string; approval_id: string }>;
  tenant_decision_topics: Array<{ tenant_id: string; prefix: string; topic: string | null }>;
  action_digests: Array<{ input: ActionDigestInput; digest: string }>;
  approval_statements: Array<{ statement: ApprovalStatement; canonical: string; signature: string }>;
};
const key = (name: string) => vectors.keys[name]!;
const receiptKeys = ReceiptKeySetSchema.parse(vectors.receipt_keys);

/** What a client does: the key the receipt names, among the published receipt keys. */
function receiptVerifies(decision: Record<string, unknown>): boolean {
  const parsed = GateDecisionSchema.safeParse(decision);
  if (!parsed.success) return false;
  const published = receiptKeys.keys.find((k) => k.key_id === parsed.data.receipt.key_id);
  return (
    published !== undefined && verifyReceipt(decision as typeof parsed.data, publicKeyFromPem(published.public_key_pem))
  );
}

describe('shared test vectors', () => {
  it('canonical JSON (RFC 8785): numbers, unicode, key order', () => {
    for (const c of vectors.canonical_json) expect(canonicalJson(JSON.parse(c.input)), c.input).toBe(c.canonical);
  });

  it('requests: the signature and the SHA-256 of the exact value bytes', () => {
    const orchestrator = key('orchestrator');
    for (const r of vectors.requests) {
      const value = Buffer.from(r.value_utf8, 'utf8');
      expect(GateRequestSchema.safeParse(JSON.parse(r.value_utf8)).success).toBe(true);
      expect(signBytes(privateKeyFromPem(orchestrator.private_key_pem), value)).toBe(r.signature);
      expect(verifyBytes(publicKeyFromPem(orchestrator.public_key_pem), value, r.signature)).toBe(true);
      expect(createHash('sha256').update(value).digest('hex')).toBe(r.sha256);
    }
  });

  it('decisions: valid receipts verify, every tampered one does not', () => {
    for (const d of vectors.decisions.valid) expect(receiptVerifies(d.decision), d.name).toBe(true);
    for (const d of vectors.decisions.invalid) expect(receiptVerifies(d.decision), d.name).toBe(false);
  });

  it("gate error codes: the contract's, every one (a client's own list must name each)", () => {
    expect(vectors.gate_error_codes).toEqual([...GATE_ERROR_CODES]);
  });

  it("limits and request ids the clients check before sending are the contract's", () => {
    expect(vectors.limits).toEqual({
      max_value_bytes: MAX_VALUE_BYTES,
      max_echo_chars: MAX_ECHO_CHARS,
      max_answerable_id_chars: MAX_ANSWERABLE_ID_CHARS,
      key_id_pattern: KEY_ID_PATTERN.source,
    });
    for (const { id, answerable, valid } of vectors.request_ids) {
      expect(answerableId(id), id).toBe(answerable);
      expect(GateRequestSchema.shape.request_id.safeParse(id).success, id).toBe(valid);
    }
  });

  it('approval ids: UUIDv5 of the JSON array [tenant, workflow, step]', () => {
    for (const a of vectors.approval_ids)
      expect(approvalIdFor(a.tenant_id, a.workflow_id, a.step_id)).toBe(a.approval_id);
  });

  it('tenant decision topics: `${prefix}gate.decisions.<tenant>`, refused for ids that cannot name a topic', () => {
    for (const t of vectors.tenant_decision_topics) {
      expect(hasTenantDecisionTopic(t.tenant_id), JSON.stringify(t.tenant_id)).toBe(t.topic !== null);
      if (t.topic === null) expect(() => tenantDecisionTopic(t.tenant_id, t.prefix)).toThrow(RangeError);
      else expect(tenantDecisionTopic(t.tenant_id, t.prefix)).toBe(t.topic);
    }
  });

  it('action digests and signed approval statements', () => {
    for (const d of vectors.action_digests) expect(actionDigest(d.input)).toBe(d.digest);
    const approver = key('approver');
    for (const s of vectors.approval_statements) {
      const bytes = approvalStatementBytes(s.statement);
      expect(Buffer.from(bytes).toString('utf8')).toBe(s.canonical);
      expect(signBytes(privateKeyFromPem(approver.private_key_pem), bytes)).toBe(s.signature);
    }
  });
});
