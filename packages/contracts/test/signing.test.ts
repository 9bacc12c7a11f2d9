import { describe, expect, it } from 'vitest';
import { canonicalJson, jsonDepth, jsonTextDepth, GateRequestSchema, MAX_JSON_DEPTH } from '../src/index.js';
import { v5 as uuidv5 } from 'uuid';
import {
  APPROVAL_ID_NAMESPACE,
  approvalIdFor,
  LEGACY_APPROVAL_ID_NAMESPACE,
  generateSigningKey,
  makeReceipt,
  privateKeyFromPem,
  publicKeyFromPem,
  signBytes,
  verifyBytes,
  verifyReceipt,
} from '../src/node.js';

const key = generateSigningKey();
const priv = privateKeyFromPem(key.privateKeyPem);
const pub = publicKeyFromPem(key.publicKeyPem);

describe('signing', () => {
  it('signs the exact value bytes with Ed25519, base64url without padding', () => {
    const bytes = Buffer.from('{"request_id":"x"}');
    const sig = signBytes(priv, bytes);
    expect(sig).toMatch(/^[A-Za-z0-9_-]{86}$/);
    expect(verifyBytes(pub, bytes, sig)).toBe(true);
    expect(verifyBytes(pub, Buffer.from('{"request_id": "x"}'), sig)).toBe(false);
    expect(verifyBytes(publicKeyFromPem(generateSigningKey().publicKeyPem), bytes, sig)).toBe(false);
    expect(verifyBytes(pub, bytes, `${sig}==`)).toBe(false);
    expect(verifyBytes(pub, bytes, 'not a signature')).toBe(false);
  });

  it('canonical JSON follows RFC 8785: sorted keys, no whitespace, ES number forms', () => {
    expect(canonicalJson({ b: 2, a: { d: [1.0, 1e21, 0.1], c: 'é\n' } })).toBe(
      '{"a":{"c":"é\\n","d":[1,1e+21,0.1]},"b":2}',
    );
  });

  it('receipts verify over the body, and any change to the body breaks them', () => {
    const body = {
      request_id: 'r',
      decision: 'allow',
      policies_matched: [] as unknown[],
      decided_at: '2026-11-18T10:30:00.000Z',
    };
    const signed = { ...body, receipt: makeReceipt(body, 'evaluator-1', priv) };
    expect(signed.receipt).toMatchObject({ key_id: 'evaluator-1', alg: 'Ed25519' });
    expect(verifyReceipt(signed, pub)).toBe(true);
    // Key order does not matter (canonical form); values do.
    expect(
      verifyReceipt(
        {
          receipt: signed.receipt,
          decided_at: body.decided_at,
          decision: 'allow',
          policies_matched: [],
          request_id: 'r',
        },
        pub,
      ),
    ).toBe(true);
    expect(verifyReceipt({ ...signed, decision: 'block' }, pub)).toBe(false);
  });
});

describe('wire helpers', () => {
  it('approval ids are deterministic UUIDv5s of [tenant, workflow, step]', () => {
    const id = approvalIdFor('acme', 'wf-1', 'deploy');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(approvalIdFor('acme', 'wf-1', 'deploy')).toBe(id);
    expect(approvalIdFor('globex', 'wf-1', 'deploy')).not.toBe(id);
    expect(id).toBe(uuidv5('["acme","wf-1","deploy"]', APPROVAL_ID_NAMESPACE));
  });

  it('approval ids of distinct steps differ where the old `tenant:workflow:step` ids collided', () => {
    const legacy = (t: string, w: string, s: string) => uuidv5(`${t}:${w}:${s}`, LEGACY_APPROVAL_ID_NAMESPACE);
    const pairs: Array<[[string, string, string], [string, string, string]]> = [
      [
        ['acme', 'a:b', 'c'],
        ['acme', 'a', 'b:c'],
      ],
      [
        ['a:b', 'c', 'd'],
        ['a', 'b:c', 'd'],
      ],
      [
        ['acme', 'w', ':s'],
        ['acme', 'w:', 's'],
      ],
    ];
    for (const [one, other] of pairs) {
      expect(legacy(...one)).toBe(legacy(...other));
      expect(approvalIdFor(...one)).not.toBe(approvalIdFor(...other));
    }
    // A new id never equals a legacy one, even where the legacy name spells the new one's JSON.
    expect(approvalIdFor('a:b:c', 'w', 's')).not.toBe(legacy('["a', 'b', 'c","w","s"]'));
    expect(APPROVAL_ID_NAMESPACE).not.toBe(LEGACY_APPROVAL_ID_NAMESPACE);
  });

  it('jsonDepth measures nesting without recursion', () => {
    expect(jsonDepth(1)).toBe(0);
    expect(jsonDepth({ a: [1, { b: 2 }] })).toBe(3);
    let deep: unknown = 0;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonDepth(deep)).toBe(100_000);
    expect(MAX_JSON_DEPTH).toBeLessThan(100);
  });

  it('jsonTextDepth reads nesting from raw bytes, skipping strings, and stops past its limit', () => {
    const depth = (text: string, limit?: number) => jsonTextDepth(Buffer.from(text), limit);
    expect(depth('1')).toBe(0);
    expect(depth('{"a":[1,{"b":2}]}')).toBe(3);
    expect(depth('{"a":"[[[{{{\\"}')).toBe(1);
    expect(depth('{"a":"\\"[[[}')).toBe(1);
    expect(depth('{"a":"\\\\",b:[[1]]}')).toBe(3);
    expect(depth('[]'.repeat(1_000))).toBe(1);
    expect(depth('['.repeat(1_000_000))).toBe(1_000_000);
    expect(depth('['.repeat(1_000_000), MAX_JSON_DEPTH)).toBe(MAX_JSON_DEPTH + 1);
    const deep = '[{"a":'.repeat(5_000) + '1' + '}]'.repeat(5_000);
    expect(depth(deep)).toBe(jsonDepth(JSON.parse(deep)));
  });

  it('gate requests are strict: unknown fields and malformed values are refused by name', () => {
    const ok = {
      request_id: '6f0b5b1e-8f5c-4d0a-9a57-3c1f0e4b7d21',
      requested_at: '2026-11-18T10:30:00Z',
      workflow_id: 'w',
      step_id: 's',
      step_type: 'llm_call',
    };
    expect(GateRequestSchema.parse(ok)).toMatchObject({ retry_policy: 'idempotent', execution_mode: 'interactive' });
    const bad = GateRequestSchema.safeParse({
      ...ok,
      request_id: 'nope',
      colour: 'red',
      idempotency_key: 'k'.repeat(256),
    });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.') || i.message);
    expect(paths).toEqual(expect.arrayContaining(['request_id', 'idempotency_key']));
    expect(bad.error!.issues.some((i) => i.code === 'unrecognized_keys')).toBe(true);
  });
});
