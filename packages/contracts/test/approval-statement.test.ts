import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  actionDigest,
  approvalStatementBytes,
  canonicalJson,
  sha256Hex,
  type ApprovalStatement,
} from '../src/index.js';
import { utf8 } from '../src/sha256.js';
import {
  generateSigningKey,
  privateKeyFromPem,
  publicKeyFromPem,
  signApprovalStatement,
  verifyApprovalStatement,
} from '../src/node.js';

describe('sha256Hex (@noble/hashes, for the workflow sandbox)', () => {
  it.each(['', 'abc', 'a'.repeat(55), 'a'.repeat(56), 'a'.repeat(64), 'é€😀\ud800x', 'x'.repeat(1000)])(
    'equals node:crypto for %#',
    (text) => {
      expect(sha256Hex(utf8(text))).toBe(
        createHash('sha256')
          .update(Buffer.from(utf8(text)))
          .digest('hex'),
      );
      expect(Buffer.from(utf8(text)).toString()).toBe(Buffer.from(text).toString());
    },
  );
});

describe('approval statements', () => {
  const base = {
    tenant_id: 'acme',
    workflow_id: 'wf-1',
    step_id: 'deploy',
    step_type: 'tool_call',
    step_name: 'deploy',
    policies_matched: [],
  };

  it('the action digest covers the request part and is stable under key order', () => {
    const request = { model: null, provider: null, step_input: { env: 'prod', n: 1 }, tool_context: null };
    const d = actionDigest({ ...base, request });
    expect(d).toMatch(/^[0-9a-f]{64}$/);
    expect(actionDigest({ ...base, request: { ...request, step_input: { n: 1, env: 'prod' } } })).toBe(d);
    expect(actionDigest({ ...base, request: { ...request, step_input: { env: 'dev', n: 1 } } })).not.toBe(d);
    expect(actionDigest({ ...base, request: null })).not.toBe(d);
  });

  it('signs the canonical JSON; any changed field fails verification', () => {
    const key = generateSigningKey();
    const statement: ApprovalStatement = {
      approval_id: '2c7f0a2e-9a51-4c55-8d38-52a1f4d3f3a1',
      action_digest: 'a'.repeat(64),
      decision: 'approve',
      comment_or_reason: 'Reviewed the rollout plan',
      signed_at: '2026-12-01T10:00:00.000Z',
      key_id: 'sgk_acme_x',
    };
    expect(Buffer.from(approvalStatementBytes(statement)).toString()).toBe(canonicalJson(statement));
    const signed = signApprovalStatement(statement, privateKeyFromPem(key.privateKeyPem));
    const pub = publicKeyFromPem(key.publicKeyPem);
    expect(verifyApprovalStatement(signed, pub)).toBe(true);
    expect(verifyApprovalStatement({ ...signed, statement: { ...statement, decision: 'reject' } }, pub)).toBe(false);
    expect(verifyApprovalStatement(signed, publicKeyFromPem(generateSigningKey().publicKeyPem))).toBe(false);
  });
});
