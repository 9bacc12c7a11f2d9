/**
 * Writes stepgate-vectors.json: the shared test vectors that the TypeScript (../vectors.test.ts) and the
 * Python client's tests (clients/python/tests/test_vectors.py) both assert, so the two cannot drift.
 * Deterministic: fixed key seeds, fixed ids and times (Ed25519 signatures are deterministic).
 *
 *   node --conditions=source --import tsx packages/contracts/test/vectors/generate.ts
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  actionDigest,
  approvalStatementBytes,
  canonicalJson,
  GATE_ERROR_CODES,
  answerableId,
  GateRequestSchema,
  KEY_ID_PATTERN,
  MAX_ANSWERABLE_ID_CHARS,
  MAX_ECHO_CHARS,
  MAX_VALUE_BYTES,
  hasTenantDecisionTopic,
  tenantDecisionTopic,
  type ActionDigestInput,
  type ApprovalStatement,
  type DecisionBody,
} from '../../src/index.js';
import { approvalIdFor, signBytes, signDecision } from '../../src/node.js';

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = '302e020100300506032b657004220420';

function keyFromSeed(seedByte: number): { privateKey: KeyObject; privateKeyPem: string; publicKeyPem: string } {
  const der = Buffer.from(PKCS8_ED25519_PREFIX + Buffer.alloc(32, seedByte).toString('hex'), 'hex');
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return {
    privateKey,
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString(),
  };
}

const keys = {
  orchestrator: { key_id: 'sgk_vectors_orchestrator', ...keyFromSeed(0x01) },
  receipts: { key_id: 'stepgate-vectors-receipts', ...keyFromSeed(0x02) },
  other: { key_id: 'stepgate-vectors-other', ...keyFromSeed(0x03) },
  approver: { key_id: 'sgk_vectors_alice', ...keyFromSeed(0x04) },
};

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Canonical-JSON cases: JSON text in, RFC 8785 text out (numbers, unicode, key order by UTF-16 code units). */
const canonicalInputs = [
  '{"b":2,"a":{"d":[1.0,1e21,0.1],"c":"é\\n"}}',
  '[1e21,1e+30,1.5e-7,0.000001,123456789012345,4.50,2e-3,-0,-0.0,100,0.1,333333333.3333333,5e-324,1.7976931348623157e308]',
  '[9007199254740991,-9007199254740991,1e20,123e-20]',
  '{"\\u20ac":"euro","\\r":"cr","1":"one","\\ud83d\\ude00":"emoji","\\ufb33":"hebrew","a":"ascii","\\u00e9":"e-acute"}',
  '"\\u0000\\u001f\\u007f\\u2028\\u2029\\"\\\\/\\b\\f\\n\\r\\t"',
  '{"nested":{"z":[],"y":{},"x":[null,true,false]},"empty":""}',
  '"Grüße, 世界 😀"',
];

const requests = [
  {
    request_id: '00000000-0000-4000-8000-000000000001',
    requested_at: '2026-12-01T10:00:00.000Z',
    workflow_id: 'release-pipeline',
    step_id: 'deploy-1',
    step_type: 'connector_call',
    step_name: 'deploy_to_production',
    step_input: { environment: 'production', replicas: 3, ratio: 0.25, note: 'Grüße 😀' },
  },
  {
    request_id: '00000000-0000-4000-8000-000000000002',
    requested_at: '2026-12-01T10:00:01.000Z',
    workflow_id: 'research-agent',
    step_id: 'search-1',
    step_type: 'tool_call',
    tool_context: { tool_name: 'web_search', tool_type: 'function', tool_input: { query: 'stepgate' } },
  },
].map((request) => {
  // The exact bytes sent: any serialisation is fine, the signature and request_sha256 cover these bytes.
  const value = Buffer.from(JSON.stringify(request));
  return {
    request,
    value_utf8: value.toString('utf8'),
    key_id: keys.orchestrator.key_id,
    signature: signBytes(keys.orchestrator.privateKey, value),
    sha256: sha256(value),
  };
});

const policyRef = {
  policy_id: 'p-approve-deploys',
  policy_name: 'approve-deploys',
  action: 'require_approval' as const,
  reason: 'Deploys need a human',
  severity: 'high' as const,
  allow_override: null,
};

const first = requests[0]!;
const approvalId = approvalIdFor('acme', first.request.workflow_id, first.request.step_id);
const decisionBody: DecisionBody = {
  request_id: first.request.request_id,
  decision_id: '00000000-0000-4000-8000-0000000000d1',
  tenant_id: 'acme',
  workflow_id: first.request.workflow_id,
  step_id: first.request.step_id,
  decision: 'require_approval',
  reason: 'Deploys need a human',
  policies_evaluated: [policyRef],
  policies_matched: [policyRef],
  approval_id: approvalId,
  approval_url: `https://portal.example/approvals/${approvalId}`,
  approval_status: 'pending',
  retry_context: {
    gate_count: 1,
    completion_count: 0,
    prior_completion_status: 'none',
    prior_output_available: false,
    last_decision: null,
    first_attempt_at: '2026-12-01T10:00:00.010Z',
    last_attempt_at: '2026-12-01T10:00:00.010Z',
    idempotency_key: '',
  },
  decision_source: 'fresh',
  decided_at: '2026-12-01T10:00:00.012Z',
  request_sha256: first.sha256,
  requester_key_id: keys.orchestrator.key_id,
};
const signed = signDecision(decisionBody, { keyId: keys.receipts.key_id, key: keys.receipts.privateKey });
const refusal = signDecision(
  {
    request_id: requests[1]!.request.request_id,
    decision_id: '00000000-0000-4000-8000-0000000000d2',
    tenant_id: 'acme',
    workflow_id: 'research-agent',
    step_id: 'search-1',
    decision: 'block',
    reason: 'no policy bundle for tenant "acme"',
    policies_evaluated: [],
    policies_matched: [],
    retry_context: null,
    decision_source: 'fresh',
    error: { code: 'NO_POLICY_BUNDLE', message: 'no policy bundle for tenant "acme"' },
    decided_at: '2026-12-01T10:00:01.005Z',
    request_sha256: requests[1]!.sha256,
    requester_key_id: keys.orchestrator.key_id,
  },
  { keyId: keys.receipts.key_id, key: keys.receipts.privateKey },
);

// What the approvals service publishes when the approval asked for above could not be started.
const unavailableReason =
  'the approval could not be started (APPROVAL_START_REFUSED): nobody can decide it, so the step is blocked: Deploys need a human';
const unavailable = signDecision(
  {
    request_id: decisionBody.request_id,
    decision_id: '00000000-0000-5000-8000-0000000000d3',
    tenant_id: 'acme',
    workflow_id: decisionBody.workflow_id,
    step_id: decisionBody.step_id,
    decision: 'block',
    reason: unavailableReason,
    policies_evaluated: [policyRef],
    policies_matched: [policyRef],
    approval_id: approvalId,
    approval_status: 'expired',
    retry_context: null,
    decision_source: 'approval',
    error: { code: 'APPROVAL_UNAVAILABLE', message: unavailableReason },
    decided_at: '2026-12-01T10:00:02.000Z',
  },
  { keyId: keys.receipts.key_id, key: keys.receipts.privateKey },
);

const decisions = {
  valid: [
    { name: 'require_approval with an approval id', decision: signed },
    { name: 'a refusal (NO_POLICY_BUNDLE)', decision: refusal },
    { name: 'an approval that could not be started (APPROVAL_UNAVAILABLE)', decision: unavailable },
  ],
  invalid: [
    { name: 'decision changed after signing', decision: { ...signed, decision: 'allow' } },
    { name: 'request_sha256 changed after signing', decision: { ...signed, request_sha256: '0'.repeat(64) } },
    {
      name: 'signed by a key that is not a receipt key, under the receipt key id',
      decision: signDecision(decisionBody, { keyId: keys.receipts.key_id, key: keys.other.privateKey }),
    },
    {
      name: 'a receipt key id nobody configured',
      decision: signDecision(decisionBody, { keyId: keys.other.key_id, key: keys.other.privateKey }),
    },
    {
      name: 'signature with base64 padding',
      decision: { ...signed, receipt: { ...signed.receipt, signature: `${signed.receipt.signature}==` } },
    },
    { name: 'another algorithm', decision: { ...signed, receipt: { ...signed.receipt, alg: 'RS256' } } },
  ],
};

const firstDigestInput: ActionDigestInput = {
  tenant_id: 'acme',
  workflow_id: first.request.workflow_id,
  step_id: first.request.step_id,
  step_type: first.request.step_type,
  step_name: first.request.step_name ?? null,
  policies_matched: [policyRef],
  request: { model: null, provider: null, step_input: first.request.step_input, tool_context: null },
};

const digestInputs: ActionDigestInput[] = [
  firstDigestInput,
  {
    tenant_id: 'acme',
    workflow_id: 'research-agent',
    step_id: 'search-1',
    step_type: 'tool_call',
    step_name: null,
    policies_matched: [],
    request: null,
  },
  // Version 2: the digest names the decision that asks for the approval.
  { ...firstDigestInput, decision_id: '0190a3c2-7d4e-7b5a-9c1f-2a3b4c5d6e7f' },
];

const statement: ApprovalStatement = {
  approval_id: approvalId,
  action_digest: actionDigest(digestInputs[0]!),
  decision: 'approve',
  comment_or_reason: 'Checked the rollout plan — ok ✅',
  signed_at: '2026-12-01T10:01:00.000Z',
  key_id: keys.approver.key_id,
};
const statementBytes = approvalStatementBytes(statement);

const requestIdCandidates = [
  '0192f5c8-7d2e-7a31-9b4c-5e6f7a8b9c0d',
  '0192F5C8-7D2E-7A31-9B4C-5E6F7A8B9C0D',
  '123e4567-e89b-12d3-a456-426614174000',
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '0192f5c8-7d2e-0a31-9b4c-5e6f7a8b9c0d',
  '0192f5c8-7d2e-7a31-cb4c-5e6f7a8b9c0d',
  '0192f5c87d2e7a319b4c5e6f7a8b9c0d',
  '0192f5c8-7d2e-7a31-9b4c-5e6f7a8b9c0d\n',
  '{0192f5c8-7d2e-7a31-9b4c-5e6f7a8b9c0d}',
  'r-1',
  '',
  'r'.repeat(128),
  'r'.repeat(129),
  '0192f5c8-7d2e-7a31-9b4c-5e6f7a8b9c0d\u0000',
  '0192f5c8-7d2e-7a31-9b4c-5e6f7a8b9c0d\ud800',
  '\u{1F680}'.repeat(64),
  '\u{1F680}'.repeat(65),
];

const vectors = {
  description:
    'Shared test vectors of the stepgate wire contract (docs/wire-contract.md). Generated by generate.ts beside this file; asserted by packages/contracts/test/vectors.test.ts and clients/python/tests/test_vectors.py.',
  keys: Object.fromEntries(
    Object.entries(keys).map(([name, k]) => [
      name,
      { key_id: k.key_id, private_key_pem: k.privateKeyPem, public_key_pem: k.publicKeyPem },
    ]),
  ),
  receipt_keys: {
    keys: [{ key_id: keys.receipts.key_id, alg: 'Ed25519', public_key_pem: keys.receipts.publicKeyPem }],
  },
  // Every gate error code a decision's `error.code` may carry: a client's own list must name each.
  gate_error_codes: GATE_ERROR_CODES,
  // What a client checks before sending (the evaluator could not answer a request past them to it).
  limits: {
    max_value_bytes: MAX_VALUE_BYTES,
    max_echo_chars: MAX_ECHO_CHARS,
    max_answerable_id_chars: MAX_ANSWERABLE_ID_CHARS,
    key_id_pattern: KEY_ID_PATTERN.source,
  },
  // `answerable`: the evaluator answers it, so a client sends it; `valid`: the schema takes it.
  request_ids: requestIdCandidates.map((id) => ({
    id,
    answerable: answerableId(id),
    valid: GateRequestSchema.shape.request_id.safeParse(id).success,
  })),
  canonical_json: canonicalInputs.map((input) => ({ input, canonical: canonicalJson(JSON.parse(input)) })),
  requests,
  decisions,
  approval_ids: [
    ['acme', 'release-pipeline', 'deploy-1'],
    ['acme', 'a:b', 'c'],
    ['acme', 'a', 'b:c'],
    ['tenant-ü', 'wf "quoted"', 'step\\with\\backslash'],
    ['acme', 'Release-Pipeline', 'deploy-😀'],
    ['acme', 'wf\nwith\u0007controls', 'step\u2028'],
  ].map(([tenant, workflow, step]) => ({
    tenant_id: tenant,
    workflow_id: workflow,
    step_id: step,
    approval_id: approvalIdFor(tenant!, workflow!, step!),
  })),
  // A tenant's own decisions topic (STEPGATE_TENANT_DECISION_TOPICS); `topic: null`: the id cannot name one.
  tenant_decision_topics: [
    ['acme', 'stepgate.'],
    ['Acme_Corp-2', 'stepgate.'],
    ['t', 'test.ns1.'],
    ['a'.repeat(64), 'stepgate.'],
    ['a'.repeat(65), 'stepgate.'],
    ['', 'stepgate.'],
    ['-acme', 'stepgate.'],
    ['_acme', 'stepgate.'],
    ['acme.other', 'stepgate.'],
    ['acme/other', 'stepgate.'],
    ['acme\n', 'stepgate.'],
    [' acme', 'stepgate.'],
    ['acme*', 'stepgate.'],
    ['tenant-ü', 'stepgate.'],
    ['ａcme', 'stepgate.'],
    ['..', 'stepgate.'],
  ].map(([tenant, prefix]) => ({
    tenant_id: tenant!,
    prefix: prefix!,
    topic: hasTenantDecisionTopic(tenant!) ? tenantDecisionTopic(tenant!, prefix) : null,
  })),
  action_digests: digestInputs.map((input) => ({ input, digest: actionDigest(input) })),
  approval_statements: [
    {
      statement,
      canonical: Buffer.from(statementBytes).toString('utf8'),
      signature: signBytes(keys.approver.privateKey, statementBytes),
    },
  ],
};

const out = fileURLToPath(new URL('./stepgate-vectors.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${out}`);
