// SHA-256 where node:crypto is not available (the Temporal workflow sandbox computes action digests):
// the audited, dependency-free @noble/hashes rather than code of our own.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';

/** The UTF-8 bytes of a string. */
export const utf8 = (text: string): Uint8Array => utf8ToBytes(text);

/** The SHA-256 of `bytes`, as 64 lower-case hex digits. */
export function sha256Hex(bytes: Uint8Array): string {
  return bytesToHex(sha256(bytes));
}
