import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GateDecision } from '@stepgate/contracts';
import { publicKeyFromPem, verifyReceipt } from '@stepgate/contracts/node';
import type { GateClient } from '@stepgate/client';
import { groupCaughtUp, testNamespace } from '@stepgate/test';
import type { Evaluator } from '@stepgate/evaluator';
import { applyBundle, client, registerPrincipal, startEvaluator, tap, type Principal } from '../pipeline.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const ns = testNamespace('evaluator-scale');
const TENANT = 'acme';
let evaluatorKey: Principal;
let orchestrator: Principal;
let gate: GateClient;
const running: Evaluator[] = [];
let child: ChildProcess | undefined;

beforeAll(async () => {
  await ns.migrate();
  await ns.createTopics();
  evaluatorKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
  orchestrator = await registerPrincipal(ns, TENANT, 'orchestrator');
  await applyBundle(ns, {
    tenant_id: TENANT,
    environment: 'staging',
    workflow_access: { mode: 'open' },
    policies: [
      {
        name: 'tool-rate',
        type: 'rate-limit',
        category: 'dynamic-cost',
        priority: 100,
        conditions: [{ field: 'context.step_type', operator: 'equals', value: 'tool_call' }],
        rate_limit: { per: ['context.agent_id'], window_seconds: 86_400, max_requests: 50 },
        actions: [{ type: 'block', config: { reason: 'rate limit' } }],
      },
    ],
  });
  gate = client(ns, orchestrator, evaluatorKey);
  await gate.connect();
});

afterAll(async () => {
  child?.kill('SIGKILL');
  await gate?.disconnect();
  await Promise.all(running.map((e) => e.stop()));
  await ns.cleanup();
});

async function decisionsOf(e: Evaluator): Promise<number> {
  return (await e.metrics.decisions.get()).values.reduce((sum, v) => sum + v.value, 0);
}

describe('evaluators scale out as one consumer group', () => {
  it('two evaluators share the load and keep rate-limit counters exact', async () => {
    for (const id of ['a', 'b']) {
      const e = startEvaluator(ns, evaluatorKey, id);
      await e.start();
      running.push(e);
    }
    const decisions = await Promise.all(
      Array.from({ length: 80 }, (_, i) =>
        gate.gate({
          workflow_id: `wf-rate-${i}`,
          step_id: 'search',
          step_type: 'tool_call',
          agent_id: 'bot-7',
          tool_context: { tool_name: 'search' },
        }),
      ),
    );
    const counts = decisions.reduce<Record<string, number>>(
      (acc, d) => ({ ...acc, [d.decision]: (acc[d.decision] ?? 0) + 1 }),
      {},
    );
    expect(counts).toEqual({ allow: 50, block: 30 });
    const { rows } = await ns.pool.query<{ value: string }>(
      `select value from usage_counters where tenant_id = $1 and key like '["rate-limit","tool-rate",["bot-7"],%'`,
      [TENANT],
    );
    expect(rows.map((r) => Number(r.value))).toEqual([50]);
    const perInstance = await Promise.all(running.map(decisionsOf));
    expect(perInstance.every((n) => n > 0)).toBe(true);
    expect(perInstance.reduce((a, b) => a + b)).toBe(80);
  });

  it("a killed evaluator's in-flight requests are all answered by the survivor, each gated once", async () => {
    await Promise.all(running.splice(0).map((e) => e.stop()));
    // A graceful stop commits what the instance did before leaving the group: nothing is replayed.
    expect(await groupCaughtUp(ns, `${ns.groupPrefix}evaluator`, ns.topics['gate.requests'])).toBe(true);
    const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-eval-'));
    await writeFile(path.join(dir, 'key.pem'), evaluatorKey.privateKeyPem, { mode: 0o600 });
    child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'services/evaluator/src/main.ts'], {
      cwd: REPO,
      env: {
        ...process.env,
        KAFKA_BROKERS: ns.endpoints.kafkaBrokers.join(','),
        DATABASE_URL: ns.endpoints.databaseUrl,
        STEPGATE_DB_SCHEMA: ns.schema,
        STEPGATE_TOPIC_PREFIX: ns.topicPrefix,
        STEPGATE_EVALUATOR_GROUP: `${ns.groupPrefix}evaluator`,
        STEPGATE_EVALUATOR_KEY_FILE: path.join(dir, 'key.pem'),
        STEPGATE_EVALUATOR_KEY_ID: evaluatorKey.keyId,
        STEPGATE_SESSION_TIMEOUT_MS: '6000',
        STEPGATE_INSTANCE_ID: `${ns.id}-doomed`,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('evaluator running') && resolve());
      child!.once('exit', (code) => reject(new Error(`evaluator process exited early (${String(code)})`)));
    });
    const survivor = startEvaluator(ns, evaluatorKey, 'survivor');
    await survivor.start();
    running.push(survivor);

    const wire = await tap(ns, [ns.topics['gate.decisions']]);
    const pending = Array.from({ length: 300 }, (_, i) =>
      gate.gate(
        { workflow_id: `wf-kill-${i}`, step_id: 'llm', step_type: 'llm_call', model: 'claude' },
        { timeoutMs: 90_000 },
      ),
    );
    await wire.until(() => (wire.seen.length >= 30 ? true : undefined));
    child.kill('SIGKILL');
    const decisions: GateDecision[] = await Promise.all(pending);
    await wire.stop();

    expect(decisions).toHaveLength(300);
    const key = publicKeyFromPem(evaluatorKey.publicKeyPem);
    expect(decisions.every((d) => d.decision === 'allow' && verifyReceipt(d, key))).toBe(true);
    const { rows } = await ns.pool.query<{ n: string; max: number }>(
      "select count(*) as n, max(gate_count) as max from step_ledger where workflow_id like 'wf-kill-%'",
    );
    expect(rows[0]).toEqual({ n: '300', max: 1 });
  }, 120_000);
});
