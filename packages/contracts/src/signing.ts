import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ed25519 } from './ed25519.js';
import type { Ed25519Threads } from './ed25519-threads.js';
import type { DecisionBody, GateDecision } from './decision.js';
import type { ReceiptKeySet } from './receipt-keys.js';
import { canonicalJson, HEADER_KEY_ID, HEADER_SIGNATURE, SIGNATURE_ALG, type Receipt } from './wire.js';
import { approvalStatementBytes, type ApprovalStatement, type SignedApprovalStatement } from './approval-statement.js';

/** base64url without padding, as the wire contract requires. */
export function signBytes(privateKey: KeyObject, bytes: Uint8Array): string {
  return ed25519.sign(privateKey, bytes).toString('base64url');
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

export function verifyBytes(publicKey: KeyObject, bytes: Uint8Array, signature: string): boolean {
  if (!BASE64URL.test(signature)) return false;
  return ed25519.verify(publicKey, bytes, Buffer.from(signature, 'base64url'));
}

/** verifyBytes, the signature checked on `threads`. */
export async function verifyBytesOn(
  threads: Ed25519Threads,
  check: { publicKey: KeyObject; bytes: Uint8Array; signature: string },
): Promise<boolean> {
  if (!BASE64URL.test(check.signature)) return false;
  return threads.verify(check.publicKey, check.bytes, Buffer.from(check.signature, 'base64url'));
}

function receiptBytes(body: Record<string, unknown>): Buffer {
  if ('receipt' in body) throw new TypeError('the signed body must not contain its own receipt');
  return Buffer.from(canonicalJson(body));
}

/** Signs the canonical JSON of `body` (which must not contain `receipt`). */
export function makeReceipt(body: Record<string, unknown>, keyId: string, privateKey: KeyObject): Receipt {
  return { key_id: keyId, alg: SIGNATURE_ALG, signature: signBytes(privateKey, receiptBytes(body)) };
}

/** Who signs receipts: a key id clients look the public key up by, and the private key. */
export interface ReceiptSigner {
  keyId: string;
  key: KeyObject;
}

/** The headers that authenticate a message value: the signer's key id and its Ed25519 signature of the bytes. */
export function signatureHeaders(signer: ReceiptSigner, bytes: Uint8Array): Record<string, string> {
  return { [HEADER_KEY_ID]: signer.keyId, [HEADER_SIGNATURE]: signBytes(signer.key, bytes) };
}

/** A decision as published: its body with the signer's receipt. */
export function signDecision(body: DecisionBody, signer: ReceiptSigner): GateDecision {
  return { ...body, receipt: makeReceipt(body, signer.keyId, signer.key) };
}

/** signDecision, the signature computed on `threads`. */
export async function signDecisionOn(
  threads: Ed25519Threads,
  body: DecisionBody,
  signer: ReceiptSigner,
): Promise<GateDecision> {
  const signature = await threads.sign(signer.key, receiptBytes(body));
  return { ...body, receipt: { key_id: signer.keyId, alg: SIGNATURE_ALG, signature: signature.toString('base64url') } };
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

/** The key set a signing service publishes for its one receipt key. */
export function receiptKeySet(keyId: string, privateKey: KeyObject): ReceiptKeySet {
  const publicKeyPem = createPublicKey(privateKey).export({ format: 'pem', type: 'spki' }).toString();
  return { keys: [{ key_id: keyId, alg: SIGNATURE_ALG, public_key_pem: publicKeyPem }] };
}

/** An approver's signature of its statement (base64url Ed25519 over the statement's canonical JSON). */
export function signApprovalStatement(statement: ApprovalStatement, privateKey: KeyObject): SignedApprovalStatement {
  return { statement, signature: signBytes(privateKey, approvalStatementBytes(statement)) };
}

/** Whether `signature` is the Ed25519 signature of `statement` by `publicKey`. */
export function verifyApprovalStatement(signed: SignedApprovalStatement, publicKey: KeyObject): boolean {
  return verifyBytes(publicKey, approvalStatementBytes(signed.statement), signed.signature);
}
