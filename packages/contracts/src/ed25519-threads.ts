import type { KeyObject } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { ed25519, rawKey, sodiumModulePath } from './ed25519.js';

/**
 * Ed25519 verifications and signatures on worker threads, so a busy service's event loop spends its
 * time on everything else. Calls made in the same turn of the event loop go to the threads in one
 * message each (a thread's round trip costs tens of µs: one per gate would eat the gain).
 */
export interface Ed25519Threads {
  readonly threads: number;
  /** True once the threads kept failing: the work is then done on the calling thread. */
  readonly degraded: boolean;
  verify(publicKey: KeyObject, bytes: Uint8Array, signature: Uint8Array): Promise<boolean>;
  sign(privateKey: KeyObject, bytes: Uint8Array): Promise<Buffer>;
  close(): Promise<void>;
}

/** A worker thread died with jobs in flight: they are refused, not answered (fail closed). */
export class Ed25519ThreadError extends Error {
  readonly code = 'ED25519_THREAD_FAILED';
  constructor(cause: unknown) {
    super(`an Ed25519 worker thread failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

const SIGNATURE_BYTES = 64;

interface Job {
  /** 0: verify `signature` of `message` by public `key`; 1: sign `message` with secret `key`. */
  op: 0 | 1;
  /** The key as the caller gave it (for a job done on the calling thread), and libsodium's form of it. */
  keyObject: KeyObject;
  key: Uint8Array;
  message: Uint8Array;
  signature?: Uint8Array;
  resolve: (result: Uint8Array) => void;
  reject: (error: Error) => void;
}

// Evaluated source, not a module file: the same code runs whether the caller was loaded from
// TypeScript sources or from dist. It only loads sodium-native, by the path the caller resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const sodium = require(workerData.sodium);
parentPort.on('message', ({ id, ops, bytes, ends }) => {
  const out = new Uint8Array(ops.length * ${SIGNATURE_BYTES});
  let at = 0;
  const next = (i) => bytes.subarray(at, (at = ends[i]));
  for (let i = 0; i < ops.length; i++) {
    const result = out.subarray(i * ${SIGNATURE_BYTES}, (i + 1) * ${SIGNATURE_BYTES});
    const key = next(3 * i), message = next(3 * i + 1), signature = next(3 * i + 2);
    if (ops[i] === 1) sodium.crypto_sign_detached(result, message, key);
    else result[0] = sodium.crypto_sign_verify_detached(signature, message, key) ? 1 : 0;
  }
  bytes.fill(0); // it held the signing key
  parentPort.postMessage({ id, out }, [out.buffer]);
});`;

/** One worker thread and the hand-offs it has not answered yet. */
class SodiumWorker {
  private readonly worker: Worker;
  private readonly inFlight = new Map<number, Job[]>();
  private nextId = 0;
  private failed = false;

  constructor(
    modulePath: string,
    private readonly events: { answered: () => void; failed: (worker: SodiumWorker) => void },
  ) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sodium: modulePath } });
    this.worker.unref();
    this.worker.on('message', ({ id, out }: { id: number; out: Uint8Array }) => {
      const jobs = this.inFlight.get(id);
      this.inFlight.delete(id);
      jobs?.forEach((job, i) => job.resolve(out.subarray(i * SIGNATURE_BYTES, (i + 1) * SIGNATURE_BYTES)));
      this.events.answered();
    });
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('messageerror', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`exited with code ${code}`)));
  }

  get alive(): boolean {
    return !this.failed;
  }

  get busy(): number {
    let n = 0;
    for (const jobs of this.inFlight.values()) n += jobs.length;
    return n;
  }

  run(jobs: Job[]): void {
    // One transferred buffer: a view posted as it is would copy its whole backing store (for a
    // consumed message, the fetch response it was sliced from).
    const ends = new Uint32Array(jobs.length * 3);
    let size = 0;
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i]!;
      ends[3 * i] = size += j.key.length;
      ends[3 * i + 1] = size += j.message.length;
      ends[3 * i + 2] = size += j.signature?.length ?? 0;
    }
    const bytes = new Uint8Array(size);
    const ops = new Uint8Array(jobs.length);
    for (let i = 0; i < jobs.length; i++) {
      const j = jobs[i]!;
      ops[i] = j.op;
      bytes.set(j.key, i === 0 ? 0 : ends[3 * i - 1]);
      bytes.set(j.message, ends[3 * i]);
      if (j.signature) bytes.set(j.signature, ends[3 * i + 1]);
    }
    const id = this.nextId++;
    this.inFlight.set(id, jobs);
    this.worker.postMessage({ id, ops, bytes, ends }, [ops.buffer, bytes.buffer, ends.buffer]);
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }

  private fail(cause: unknown): void {
    const first = !this.failed;
    this.failed = true;
    for (const jobs of this.inFlight.values()) for (const job of jobs) job.reject(new Ed25519ThreadError(cause));
    this.inFlight.clear();
    if (first) {
      void this.worker.terminate().catch(() => undefined);
      this.events.failed(this);
    }
  }
}

/** Thread failures in a row (no answer between them) after which the pool works on the calling thread. */
const FAILURES_BEFORE_INLINE = 3;

class PooledEd25519 implements Ed25519Threads {
  private readonly workers: Array<SodiumWorker | undefined>;
  private queued: Job[] = [];
  private flushScheduled = false;
  private failuresInARow = 0;
  private closed = false;

  constructor(
    private readonly modulePath: string,
    readonly threads: number,
    private readonly inlineBelow: number,
  ) {
    this.workers = Array.from({ length: threads }, () => undefined);
  }

  /** Whether the threads kept failing and the jobs are done on the calling thread instead. */
  get degraded(): boolean {
    return this.failuresInARow >= FAILURES_BEFORE_INLINE;
  }

  verify(publicKey: KeyObject, bytes: Uint8Array, signature: Uint8Array): Promise<boolean> {
    const key = publicKey.type === 'public' ? rawKey(publicKey) : undefined;
    if (!key) return Promise.resolve(ed25519.verify(publicKey, bytes, signature)); // not Ed25519: Node's answer
    if (signature.length !== SIGNATURE_BYTES) return Promise.resolve(false);
    return this.enqueue({ op: 0, keyObject: publicKey, key, message: bytes, signature }).then((out) => out[0] === 1);
  }

  sign(privateKey: KeyObject, bytes: Uint8Array): Promise<Buffer> {
    const key = privateKey.type === 'private' ? rawKey(privateKey) : undefined;
    if (!key) return Promise.resolve().then(() => ed25519.sign(privateKey, bytes)); // Node's error
    return this.enqueue({ op: 1, keyObject: privateKey, key, message: bytes }).then((out) => Buffer.from(out));
  }

  /** Ends the threads; jobs still queued, and any later, are done on the calling thread. */
  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0, this.workers.length);
    await Promise.all(workers.flatMap((w) => (w ? [w.terminate()] : [])));
  }

  private enqueue(job: Omit<Job, 'resolve' | 'reject'>): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      (job as Job).resolve = resolve;
      (job as Job).reject = reject;
      this.queued.push(job as Job);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /**
   * Spreads what queued in this turn over the threads, the least busy taking the first share. A few
   * jobs are done here: a thread's round trip (waking it included) costs more latency than they do.
   */
  private flush(): void {
    this.flushScheduled = false;
    const jobs = this.queued;
    this.queued = [];
    if (this.closed || this.degraded || jobs.length < this.inlineBelow) {
      for (const job of jobs) settleInline(job);
      return;
    }
    let workers: SodiumWorker[];
    try {
      workers = this.workers.map((w, i) => (w?.alive ? w : (this.workers[i] = this.startWorker())));
    } catch (error) {
      this.failuresInARow++;
      for (const job of jobs) job.reject(new Ed25519ThreadError(error));
      return;
    }
    workers.sort((a, b) => a.busy - b.busy);
    const share = Math.ceil(jobs.length / workers.length);
    for (let i = 0, w = 0; i < jobs.length; i += share, w++) {
      const chunk = jobs.slice(i, i + share);
      try {
        workers[w]!.run(chunk);
      } catch (error) {
        for (const job of chunk) job.reject(new Ed25519ThreadError(error));
      }
    }
  }

  private startWorker(): SodiumWorker {
    return new SodiumWorker(this.modulePath, {
      answered: () => (this.failuresInARow = 0),
      failed: () => this.failuresInARow++,
    });
  }
}

function settleInline(job: Job): void {
  try {
    job.resolve(runInline(job));
  } catch (error) {
    job.reject(error instanceof Error ? error : new Error(String(error)));
  }
}

function runInline(job: Job): Uint8Array {
  if (job.op === 1) return ed25519.sign(job.keyObject, job.message);
  return Uint8Array.of(ed25519.verify(job.keyObject, job.message, job.signature!) ? 1 : 0);
}

/** On the calling thread: where libsodium's addon does not load, or no thread is wanted. */
const inline: Omit<Ed25519Threads, 'threads' | 'degraded'> = {
  verify: async (publicKey, bytes, signature) => ed25519.verify(publicKey, bytes, signature),
  sign: async (privateKey, bytes) => ed25519.sign(privateKey, bytes),
  close: async () => undefined,
};

/** Jobs of one turn done on the calling thread rather than handed off, by default. */
export const INLINE_BELOW = 4;

export interface Ed25519ThreadsOptions {
  /** Fewer jobs than this queued in one turn are done on the calling thread (default INLINE_BELOW). */
  inlineBelow?: number;
  /** The sodium-native module the threads load (default: the one this package loads). */
  sodiumModule?: string;
}

/**
 * `threads` worker threads (none: on the calling thread, as without libsodium). Threads that keep
 * failing leave the work to the calling thread rather than refusing it (`degraded`).
 */
export function ed25519Threads(threads: number, options: Ed25519ThreadsOptions = {}): Ed25519Threads {
  const sodiumModule = options.sodiumModule ?? sodiumModulePath;
  if (threads < 1 || sodiumModule === undefined) return { ...inline, threads: 0, degraded: false };
  return new PooledEd25519(sodiumModule, threads, options.inlineBelow ?? INLINE_BELOW);
}
