// One engine's measurement, in its own worker thread (own V8 isolate) — see policy-engine.ts.
import { parentPort, workerData } from 'node:worker_threads';
import { compileBundle, evaluate } from '@stepgate/policy-engine';
import { cedarContext, workload } from './policy-workload.js';
import { summarize } from './stats.js';

export interface WorkerTask {
  engine: 'stepgate' | 'cedar';
  policies: number;
  requests: number;
  rounds: number;
}
export interface WorkerResult {
  perSecond: number;
  p50us: number;
  p99us: number;
  /** One decision per request, as allow/deny, for the equivalence check. */
  denies: boolean[];
}

const NOW = Date.parse('2026-11-18T10:30:00Z');

async function decider(task: WorkerTask): Promise<(i: number) => boolean> {
  const { bundle, cedarPolicies, steps } = workload(task.policies, task.requests);
  if (task.engine === 'stepgate') {
    const compiled = compileBundle(bundle);
    return (i) => evaluate(compiled, { step: steps[i]!, tenant_id: 'bench', now: NOW }).decision === 'block';
  }
  const cedar = await import('@cedar-policy/cedar-wasm/nodejs');
  const id = `bench-${task.policies}`;
  const parsed = cedar.preparsePolicySet(id, { staticPolicies: cedarPolicies });
  if (parsed.type !== 'success') throw new Error(`cedar policy set did not parse: ${JSON.stringify(parsed.errors[0])}`);
  return (i) => {
    const answer = cedar.statefulIsAuthorized({
      principal: { type: 'User', id: 'agent' },
      action: { type: 'Action', id: 'gate' },
      resource: { type: 'Step', id: 's' },
      context: cedarContext(steps[i]!) as Parameters<typeof cedar.statefulIsAuthorized>[0]['context'],
      preparsedPolicySetId: id,
      entities: [],
    });
    if (answer.type !== 'success') throw new Error(`cedar failed: ${JSON.stringify(answer.errors[0])}`);
    return answer.response.decision === 'deny';
  };
}

const task = workerData as WorkerTask;
const decide = await decider(task);
const n = task.requests;
const denies = Array.from({ length: n }, (_, i) => decide(i)); // also the JIT warm-up
const samples: number[] = [];
for (let i = 0; i < n; i++) {
  const t0 = performance.now();
  decide(i);
  samples.push((performance.now() - t0) * 1000);
}
const t0 = performance.now();
for (let r = 0; r < task.rounds; r++) for (let i = 0; i < n; i++) decide(i);
const seconds = (performance.now() - t0) / 1000;
const s = summarize(samples);
parentPort!.postMessage({
  perSecond: (task.rounds * n) / seconds,
  p50us: s.p50,
  p99us: s.p99,
  denies,
} satisfies WorkerResult);
