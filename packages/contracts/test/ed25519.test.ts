import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519, nodeCryptoEd25519 } from '../src/node.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');

describe('Ed25519 backend', () => {
  it('is libsodium where sodium-native ships a prebuilt addon', () => {
    if (
      ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64'].includes(
        `${process.platform}-${process.arch}`,
      )
    )
      expect(ed25519.name).toBe('libsodium');
  });

  it('signs byte for byte as Node crypto does, and each verifies the other', () => {
    for (const size of [0, 1, 64, 1000, 70_000]) {
      const bytes = randomBytes(size);
      const ours = ed25519.sign(privateKey, bytes);
      expect(ours.equals(nodeCryptoEd25519.sign(privateKey, bytes))).toBe(true);
      expect(nodeCryptoEd25519.verify(publicKey, bytes, ours)).toBe(true);
      expect(ed25519.verify(publicKey, bytes, ours)).toBe(true);
    }
  });

  it('refuses a changed message, a changed or short signature, and another key', () => {
    const bytes = Buffer.from('{"request_id":"r1"}');
    const signature = ed25519.sign(privateKey, bytes);
    expect(ed25519.verify(publicKey, Buffer.from('{"request_id":"r2"}'), signature)).toBe(false);
    const flipped = Buffer.from(signature);
    flipped[10]! ^= 1;
    expect(ed25519.verify(publicKey, bytes, flipped)).toBe(false);
    expect(ed25519.verify(publicKey, bytes, signature.subarray(0, 63))).toBe(false);
    expect(ed25519.verify(publicKey, bytes, Buffer.alloc(0))).toBe(false);
    expect(ed25519.verify(generateKeyPairSync('ed25519').publicKey, bytes, signature)).toBe(false);
  });

  it('hands a key of another type to Node crypto: an Ed25519 signature does not verify with it', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(ed25519.verify(rsa.publicKey, Buffer.from('x'), ed25519.sign(privateKey, Buffer.from('x')))).toBe(false);
    expect(
      ed25519.sign(rsa.privateKey, Buffer.from('x')).equals(nodeCryptoEd25519.sign(rsa.privateKey, Buffer.from('x'))),
    ).toBe(true);
  });
});
