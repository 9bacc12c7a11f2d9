import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ed25519,
  ed25519Threads,
  Ed25519ThreadError,
  signDecision,
  signDecisionOn,
  verifyBytesOn,
} from '../src/node.js';
import type { DecisionBody } from '../src/index.js';

const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const other = generateKeyPairSync('ed25519');
// Every job handed to a thread, however few (a pool's default does a few on the calling thread).
const threads = ed25519Threads(2, { inlineBelow: 0 });
afterAll(() => threads.close());

describe('Ed25519 on worker threads', () => {
  it('runs on threads where libsodium loads, on the calling thread with none', () => {
    expect(threads.threads).toBe(ed25519.name === 'libsodium' ? 2 : 0);
    expect(ed25519Threads(0).threads).toBe(0);
  });

  it('signs byte for byte as the calling thread does, many calls of one turn together', async () => {
    const messages = [0, 1, 221, 2_000, 70_000].flatMap((size) => [randomBytes(size), randomBytes(size)]);
    const signatures = await Promise.all(messages.map((m) => threads.sign(privateKey, m)));
    signatures.forEach((s, i) => expect(s.equals(ed25519.sign(privateKey, messages[i]!))).toBe(true));
    const verified = await Promise.all(messages.map((m, i) => threads.verify(publicKey, m, signatures[i]!)));
    expect(verified.every(Boolean)).toBe(true);
  });

  it('does a few jobs of one turn on the calling thread, with the same answers', async () => {
    const pool = ed25519Threads(1);
    const bytes = randomBytes(500);
    const signature = await pool.sign(privateKey, bytes);
    expect(signature.equals(ed25519.sign(privateKey, bytes))).toBe(true);
    expect(await pool.verify(publicKey, bytes, signature)).toBe(true);
    expect(await pool.verify(other.publicKey, bytes, signature)).toBe(false);
    await pool.close();
  });

  it('refuses a changed message, a changed or short signature, and another key', async () => {
    const bytes = Buffer.from('{"request_id":"r1"}');
    const signature = ed25519.sign(privateKey, bytes);
    const flipped = Buffer.from(signature);
    flipped[10]! ^= 1;
    const answers = await Promise.all([
      threads.verify(publicKey, Buffer.from('{"request_id":"r2"}'), signature),
      threads.verify(publicKey, bytes, flipped),
      threads.verify(publicKey, bytes, signature.subarray(0, 63)),
      threads.verify(other.publicKey, bytes, signature),
      threads.verify(publicKey, bytes, signature),
    ]);
    expect(answers).toEqual([false, false, false, false, true]);
  });

  it('checks only the bytes of a view, not the rest of the buffer it was sliced from', async () => {
    // A consumed Kafka message is a slice of the whole fetch response.
    const fetched = randomBytes(1 << 20);
    const value = fetched.subarray(4_000, 4_221);
    const signature = ed25519.sign(privateKey, value).toString('base64url');
    expect(await verifyBytesOn(threads, { publicKey, bytes: value, signature })).toBe(true);
    expect(await verifyBytesOn(threads, { publicKey, bytes: fetched.subarray(4_000, 4_222), signature })).toBe(false);
    expect(await verifyBytesOn(threads, { publicKey, bytes: value, signature: `${signature}!` })).toBe(false);
  });

  it('signs a decision as signDecision does', async () => {
    const body = { decision_id: 'd1', decision: 'allow', reason: 'ok' } as unknown as DecisionBody;
    const signer = { keyId: 'k1', key: privateKey };
    expect(await signDecisionOn(threads, body, signer)).toEqual(signDecision(body, signer));
  });

  it('refuses the jobs of a thread that ends under them; after close, jobs are done on the calling thread', async () => {
    if (threads.threads === 0) return;
    const own = ed25519Threads(1, { inlineBelow: 0 });
    const inFlight = own.sign(privateKey, randomBytes(1_000));
    await new Promise((resolve) => setImmediate(resolve)); // handed to the thread
    await own.close();
    const error = await inFlight.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Ed25519ThreadError);
    expect((error as Ed25519ThreadError).code).toBe('ED25519_THREAD_FAILED');
    const bytes = randomBytes(100);
    expect((await own.sign(privateKey, bytes)).equals(ed25519.sign(privateKey, bytes))).toBe(true);
  });

  it('threads that keep failing refuse their jobs, then leave the work to the calling thread', async () => {
    if (threads.threads === 0) return;
    const broken = ed25519Threads(2, { inlineBelow: 0, sodiumModule: '/nonexistent/sodium-native' });
    const bytes = randomBytes(100);
    const signature = ed25519.sign(privateKey, bytes);
    const outcomes: unknown[] = [];
    while (!broken.degraded) {
      const [signed, verified] = await Promise.allSettled([
        broken.sign(privateKey, bytes),
        broken.verify(publicKey, bytes, signature),
      ]);
      outcomes.push(signed.status, verified.status);
      if (signed.status === 'rejected') expect(signed.reason).toBeInstanceOf(Ed25519ThreadError);
      expect(outcomes.length).toBeLessThan(20);
    }
    // Never an answer from a thread that could not load libsodium: only refusals, then the right answers.
    expect(outcomes.every((o) => o === 'rejected')).toBe(true);
    expect((await broken.sign(privateKey, bytes)).equals(signature)).toBe(true);
    expect(await broken.verify(publicKey, bytes, signature)).toBe(true);
    expect(await broken.verify(other.publicKey, bytes, signature)).toBe(false);
    await broken.close();
  });
});
