/**
 * Decisions/s and per-decision latency of the stepgate engine next to Cedar (cedar-wasm, with a
 * preparsed policy set) on the same requests and an equivalent policy set, in the same process and
 * run. Each engine runs in its own worker thread: sharing one V8 isolate, cedar-wasm's glue and the
 * engine crashed Node 20.20's deoptimizer (V8 fatal "unreachable code"), and separate isolates keep
 * either engine's JIT feedback from skewing the other. Every request's decision is compared between
 * the two, so the ratio compares equal work.
 */
import { Worker } from 'node:worker_threads';
import type { WorkerResult, WorkerTask } from './policy-engine-worker.js';
import { fmt } from './stats.js';

export interface EngineFigures {
  policies: number;
  stepgate: WorkerResult;
  cedar: WorkerResult;
  mismatches: number;
  blocked: number;
  requests: number;
}

function runWorker(task: WorkerTask): Promise<WorkerResult> {
  return new Promise((resolve, reject) => {
    // Workers do not inherit `--import tsx`: register it in the worker before loading the TypeScript entry.
    const entry = new URL('./policy-engine-worker.ts', import.meta.url).href;
    const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    const worker = new Worker(bootstrap, { eval: true, workerData: task, execArgv: ['--conditions=source'] });
    worker.once('message', (m: WorkerResult) => resolve(m));
    worker.once('error', reject);
    worker.once('exit', (code) => code !== 0 && reject(new Error(`${task.engine} worker exited with ${code}`)));
  });
}

export async function benchEngine(policies: number, requests = 5000): Promise<EngineFigures> {
  const cedarRounds = Math.max(1, Math.round(2000 / Math.max(policies, 100)));
  const stepgate = await runWorker({ engine: 'stepgate', policies, requests, rounds: cedarRounds * 20 });
  const cedar = await runWorker({ engine: 'cedar', policies, requests, rounds: cedarRounds });
  const mismatches = stepgate.denies.filter((d, i) => d !== cedar.denies[i]).length;
  return { policies, stepgate, cedar, mismatches, blocked: stepgate.denies.filter(Boolean).length, requests };
}

export function printEngine(f: EngineFigures): void {
  console.log(
    `policy-engine  ${String(f.policies).padStart(5)} policies: stepgate ${fmt(f.stepgate.perSecond / 1000, 1)}k/s ` +
      `(p50 ${fmt(f.stepgate.p50us)} µs, p99 ${fmt(f.stepgate.p99us)} µs) | cedar-wasm ${fmt(f.cedar.perSecond / 1000, 1)}k/s ` +
      `(p50 ${fmt(f.cedar.p50us)} µs, p99 ${fmt(f.cedar.p99us)} µs) | ratio ${fmt(f.stepgate.perSecond / f.cedar.perSecond, 1)}× | ` +
      `${f.blocked}/${f.requests} blocked, ${f.mismatches} decision mismatches`,
  );
}
