import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { BufferPool, prepareValues, type PreparedBatch } from './prepare.js';

/**
 * Prepares the audit consumer's slices (prepare.ts: parse, check, canonicalise, encode) on a worker
 * thread, so the event loop spends its time on Kafka, the hash chain and COPY, and one partition's
 * slice is prepared while another's is written. A thread that fails, or does not answer a slice within
 * SLICE_TIMEOUT_MS, leaves its slices, and every later one, to the calling thread (the work is pure: done again, it gives the same bytes).
 */
export interface Preparer {
  /** Starts the thread and waits until it can take work (on failure: prepares on the calling thread). */
  start(): Promise<void>;
  prepare(values: ReadonlyArray<Buffer | null>, now: number): Promise<PreparedBatch>;
  /** The batch is written and its bytes no longer read: they may be reused (its events' views become empty). */
  done(batch: PreparedBatch): void;
  close(): Promise<void>;
}

/** On the calling thread. */
export const inlinePreparer: Preparer = {
  start: async () => undefined,
  prepare: async (values, now) => prepareValues(values, now),
  done: () => undefined,
  close: async () => undefined,
};

interface Pending {
  values: ReadonlyArray<Buffer | null>;
  now: number;
  resolve: (batch: PreparedBatch) => void;
  reject: (error: Error) => void;
  /** Set once the slice is sent: fails the thread when its answer is that late. */
  deadline?: NodeJS.Timeout;
}

export interface PreparerOptions {
  /** How long a slice may wait for the thread's answer (default SLICE_TIMEOUT_MS). */
  sliceTimeoutMs?: number;
}

/**
 * A thread that has not answered a slice in this time is taken as stuck, and its slices are prepared on
 * the calling thread: a slice of 2,000 events takes tens of milliseconds, so this is far past any
 * honest delay, and short of the partition standing still for long.
 */
export const SLICE_TIMEOUT_MS = 30_000;

/** The preparing thread did not answer a slice in time. */
export class PreparingThreadStalled extends Error {
  constructor(readonly afterMs: number) {
    super(`no answer to a slice within ${afterMs} ms`);
    this.name = 'PreparingThreadStalled';
  }
}

/**
 * The worker thread. Run from TypeScript sources (tests, benchmarks), it registers tsx and imports the
 * worker's source, resolving workspace packages to their sources too; built, it runs the built module.
 */
function spawnWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./prepare-worker.js', import.meta.url));
  const bootstrap = `
const { workerData } = require('node:worker_threads');
import('tsx/esm/api').then(({ register }) => { register(); return import(workerData.file); });`;
  return new Worker(bootstrap, {
    eval: true,
    execArgv: ['--conditions=source'],
    workerData: { file: new URL('./prepare-worker.ts', import.meta.url).href },
  });
}

class ThreadPreparer implements Preparer {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private failed = false;
  private closed = false;
  /** Request buffers the thread handed back. */
  private readonly spare = new BufferPool(4);
  /** Batches the thread prepared (their buffers go back to it when done). */
  private readonly fromThread = new WeakSet<PreparedBatch>();
  private whenReady: Promise<void> | undefined;
  private markReady: (() => void) | undefined;

  private readonly sliceTimeoutMs: number;

  constructor(
    private readonly log: Logger,
    options: PreparerOptions = {},
  ) {
    this.sliceTimeoutMs = options.sliceTimeoutMs ?? SLICE_TIMEOUT_MS;
  }

  prepare(values: ReadonlyArray<Buffer | null>, now: number): Promise<PreparedBatch> {
    if (this.failed || this.closed) return inlinePreparer.prepare(values, now);
    return new Promise((resolve, reject) => {
      const job: Pending = { values, now, resolve, reject };
      try {
        this.send(job);
      } catch (error) {
        this.fail(error);
        this.inline(job);
      }
    });
  }

  start(): Promise<void> {
    this.closed = false;
    if (this.failed) return Promise.resolve();
    this.worker ??= this.startWorker();
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, READY_TIMEOUT_MS).unref());
    return Promise.race([this.whenReady!, timeout]).then(() => {
      if (!this.ready) this.fail(new Error(`not ready after ${READY_TIMEOUT_MS} ms`));
    });
  }

  private ready = false;

  /** Slices sent and not answered yet. */
  get waiting(): number {
    return this.pending.size;
  }

  done(batch: PreparedBatch): void {
    if (!this.fromThread.has(batch)) return;
    this.fromThread.delete(batch);
    const buffer = batch.bytes.buffer as ArrayBuffer;
    if (this.worker && !this.failed && !this.closed) this.worker.postMessage({ recycle: buffer }, [buffer]);
  }

  async close(): Promise<void> {
    this.closed = true; // slices until the next start (none once the consumer stopped) on the calling thread
    const worker = this.worker;
    this.worker = undefined;
    this.ready = false;
    for (const job of this.pending.values()) this.inline(job);
    this.pending.clear();
    await worker?.terminate();
  }

  private send(job: Pending): void {
    const worker = (this.worker ??= this.startWorker());
    // One transferred buffer: a consumed message's value is a view of its whole fetch response, which
    // posting it as it is would copy.
    const ends = new Uint32Array(job.values.length);
    const absent = new Uint8Array(job.values.length);
    let size = 0;
    job.values.forEach((v, i) => {
      if (v === null) absent[i] = 1;
      ends[i] = size += v?.length ?? 0;
    });
    const bytes = new Uint8Array(this.spare.take(size), 0, size);
    job.values.forEach((v, i) => {
      if (v) bytes.set(v, i === 0 ? 0 : ends[i - 1]!);
    });
    const id = this.nextId++;
    worker.postMessage({ id, bytes, ends, absent, now: job.now }, [bytes.buffer, ends.buffer, absent.buffer]);
    // Only once posted: a post that throws leaves the job to the caller's catch, not to fail() too.
    this.pending.set(id, job);
    job.deadline = setTimeout(() => {
      if (this.worker === worker && this.pending.has(id)) this.fail(new PreparingThreadStalled(this.sliceTimeoutMs));
    }, this.sliceTimeoutMs).unref();
  }

  private startWorker(): Worker {
    const worker = spawnWorker();
    this.whenReady = new Promise((resolve) => (this.markReady = resolve));
    worker.unref();
    worker.on('message', (message: { ready: true } | { id: number; batch: PreparedBatch; input: Uint8Array }) => {
      if ('ready' in message) {
        this.ready = true;
        this.markReady?.();
        return;
      }
      const { id, batch, input } = message;
      this.spare.give(input.buffer as ArrayBuffer);
      const job = this.pending.get(id);
      if (!job) return; // answered too late: already prepared on the calling thread
      clearTimeout(job.deadline);
      this.pending.delete(id);
      this.fromThread.add(batch);
      job.resolve(batch);
    });
    worker.on('error', (error) => {
      if (this.worker === worker) this.fail(error);
    });
    worker.on('messageerror', (error) => {
      if (this.worker === worker) this.fail(error);
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.fail(new Error(`exited with code ${code}`));
    });
    return worker;
  }

  private fail(cause: unknown): void {
    this.markReady?.();
    if (this.failed) return;
    this.failed = true;
    this.log.warn(
      { error: String(cause), stalled: cause instanceof PreparingThreadStalled },
      'audit preparing thread failed; preparing on the event loop from now on',
    );
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate().catch(() => undefined);
    for (const job of this.pending.values()) this.inline(job);
    this.pending.clear();
  }

  private inline(job: Pending): void {
    clearTimeout(job.deadline);
    try {
      job.resolve(prepareValues(job.values, job.now));
    } catch (error) {
      job.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }
}

/** How long start() waits for the thread to load its modules before preparing on the calling thread instead. */
const READY_TIMEOUT_MS = 30_000;

/** Several threads: each slice to the one with the fewest slices waiting. */
class PooledPreparer implements Preparer {
  private readonly owner = new WeakMap<PreparedBatch, ThreadPreparer>();
  constructor(private readonly threads: ThreadPreparer[]) {}
  async start(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.start()));
  }
  async prepare(values: ReadonlyArray<Buffer | null>, now: number): Promise<PreparedBatch> {
    let least = this.threads[0]!;
    for (const t of this.threads) if (t.waiting < least.waiting) least = t;
    const batch = await least.prepare(values, now);
    this.owner.set(batch, least);
    return batch;
  }
  done(batch: PreparedBatch): void {
    this.owner.get(batch)?.done(batch);
  }
  async close(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.close()));
  }
}

/** `threads` 0: on the calling thread. */
export function auditPreparer(threads: number, log: Logger, options: PreparerOptions = {}): Preparer {
  if (threads < 1) return inlinePreparer;
  if (threads === 1) return new ThreadPreparer(log, options);
  return new PooledPreparer(Array.from({ length: threads }, () => new ThreadPreparer(log, options)));
}
