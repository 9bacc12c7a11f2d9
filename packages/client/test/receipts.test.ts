import { describe, expect, it } from 'vitest';
import { generateSigningKey, makeReceipt, privateKeyFromPem } from '@stepgate/contracts/node';
import { receiptVerifier } from '../src/index.js';

const oldKey = generateSigningKey();
const newKey = generateSigningKey();
const body = { request_id: 'r-1', decision: 'allow', reason: 'no policy restricts this step' };
const signedBy = (key: { privateKeyPem: string }, keyId: string) => ({
  ...body,
  receipt: makeReceipt(body, keyId, privateKeyFromPem(key.privateKeyPem)),
});

describe('receipt keys', () => {
  it('with no key configured, nothing is verified', () => {
    expect(receiptVerifier({})).toBeUndefined();
  });

  it('one key: every receipt must verify with it, whatever key id it names', () => {
    const verifies = receiptVerifier({ evaluatorPublicKeyPem: newKey.publicKeyPem })!;
    expect(verifies(signedBy(newKey, 'any-id'))).toBe(true);
    expect(verifies(signedBy(oldKey, 'any-id'))).toBe(false);
    expect(verifies({ ...signedBy(newKey, 'any-id'), decision: 'block' })).toBe(false);
  });

  it('keys by key id, as during a rotation: each receipt is checked with the key it names', () => {
    const verifies = receiptVerifier({
      evaluatorPublicKeys: { 'k-old': oldKey.publicKeyPem, 'k-new': newKey.publicKeyPem },
    })!;
    expect(verifies(signedBy(oldKey, 'k-old'))).toBe(true);
    expect(verifies(signedBy(newKey, 'k-new'))).toBe(true);
    // Naming the other listed key, or an unlisted one, does not verify.
    expect(verifies(signedBy(oldKey, 'k-new'))).toBe(false);
    expect(verifies(signedBy(newKey, 'k-unknown'))).toBe(false);
  });

  it('an unlisted key id falls back to the single key, when one is given', () => {
    const verifies = receiptVerifier({
      evaluatorPublicKeyPem: oldKey.publicKeyPem,
      evaluatorPublicKeys: { 'k-new': newKey.publicKeyPem },
    })!;
    expect(verifies(signedBy(newKey, 'k-new'))).toBe(true);
    expect(verifies(signedBy(oldKey, 'k-old'))).toBe(true);
    expect(verifies(signedBy(newKey, 'k-old'))).toBe(false);
  });
});
