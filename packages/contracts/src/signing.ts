import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import canonicalizeModule from 'canonicalize';
import { ed25519 } from './ed25519.js';

// canonicalize is CommonJS (module.exports = fn) but its types declare an ES default export;
// depending on the loader the default import is the function or a namespace holding it.
type Serialize = (input: unknown) => string | undefined;
const interop = canonicalizeModule as unknown as Serialize & { default?: Serialize };
const canonicalize: Serialize = interop.default ?? interop;

/** Kafka headers that authenticate a message: the credential's key id and an Ed25519 signature of the value bytes. */
export const HEADER_KEY_ID = 'stepgate-key-id';
export const HEADER_SIGNATURE = 'stepgate-signature';
export const HEADER_TRACEPARENT = 'traceparent';

export const SIGNATURE_ALG = 'Ed25519' as const;

/** base64url without padding, as the wire contract requires. */
export function signBytes(privateKey: KeyObject, bytes: Uint8Array): string {
  return ed25519.sign(privateKey, bytes).toString('base64url');
}

export function verifyBytes(publicKey: KeyObject, bytes: Uint8Array, signature: string): boolean {
  if (!/^[A-Za-z0-9_-]+$/.test(signature)) return false;
  return ed25519.verify(publicKey, bytes, Buffer.from(signature, 'base64url'));
}

/** RFC 8785 (JCS) canonical JSON: the bytes a receipt signs. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return text;
}

export interface Receipt {
  key_id: string;
  alg: typeof SIGNATURE_ALG;
  signature: string;
}

/** Signs the canonical JSON of `body` (which must not contain `receipt`). */
export function makeReceipt(body: Record<string, unknown>, keyId: string, privateKey: KeyObject): Receipt {
  if ('receipt' in body) throw new TypeError('the signed body must not contain its own receipt');
  return { key_id: keyId, alg: SIGNATURE_ALG, signature: signBytes(privateKey, Buffer.from(canonicalJson(body))) };
}

/** Verifies a `{...body, receipt}` document against a public key. */
export function verifyReceipt(signed: { receipt: Receipt } & Record<string, unknown>, publicKey: KeyObject): boolean {
  const { receipt, ...body } = signed;
  return receipt.alg === SIGNATURE_ALG && verifyBytes(publicKey, Buffer.from(canonicalJson(body)), receipt.signature);
}

export interface GeneratedKey {
  privateKeyPem: string;
  publicKeyPem: string;
}

export function generateSigningKey(): GeneratedKey {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

export const privateKeyFromPem = (pem: string): KeyObject => createPrivateKey(pem);
export const publicKeyFromPem = (pem: string): KeyObject => createPublicKey(pem);
