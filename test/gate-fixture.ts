/**
 * The stack most gate tests run on: a migrated namespace with its topics, the evaluator's signing key,
 * a tenant's orchestrator with a connected gate client, the tenant's bundles, a running evaluator (and
 * whatever services the test starts alongside it) and a tap on some topics.
 */
import type { TopicName } from '@stepgate/contracts';
import type { GateClient } from '@stepgate/client';
import type { Evaluator, EvaluatorConfig } from '@stepgate/evaluator';
import type { TestNamespace } from '@stepgate/test';
import { applyBundle, client, registerPrincipal, startEvaluator, tap, type Principal } from './pipeline.js';

export type Tap = Awaited<ReturnType<typeof tap>>;

/** A policy blocking steps on model gpt-4: the gate tests' block. */
export const BLOCK_GPT4 = {
  name: 'block-gpt4',
  type: 'context_aware',
  category: 'dynamic-security',
  priority: 900,
  conditions: [{ field: 'context.model', operator: 'equals', value: 'gpt-4' }],
  actions: [{ type: 'block', config: { reason: 'GPT-4 not allowed' } }],
};
export type Bundle = { tenant_id: string } & Record<string, unknown>;

/** A service the fixture starts with the evaluator and stops when it closes. */
export interface Startable {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface GateFixtureOptions {
  /** The tenant of the orchestrator the fixture's gate client signs as. */
  tenant: string;
  /** The orchestrator's principal name (default `orchestrator`). */
  orchestrator?: string;
  /** Runs once the principals are registered, before the bundles are applied and the services start. */
  prepare?: () => Promise<void>;
  /** Applied (and announced) before the evaluator starts. */
  bundles: Bundle[];
  /** The evaluator's instance name (default `a`) and config overrides. */
  evaluator?: { instance?: string; overrides?: Partial<EvaluatorConfig> };
  /** Services started together with the evaluator (they may sign with its key) and stopped at close. */
  alongside?: (evaluatorKey: Principal) => Startable[];
  /** The topics the fixture's tap collects (from the start); none by default. */
  tap?: TopicName[];
}

export interface GateFixture {
  evaluatorKey: Principal;
  orchestrator: Principal;
  evaluator: Evaluator;
  /** The orchestrator's gate client, connected. */
  gate: GateClient;
  /** The tap on `options.tap` (reading it throws when none was asked for). */
  readonly wire: Tap;
  /** Stops what the fixture started and cleans up the namespace. */
  close(): Promise<void>;
}

/** Opens the stack on `ns`; a failed open closes what it had started. */
export async function openGateFixture(ns: TestNamespace, options: GateFixtureOptions): Promise<GateFixture> {
  const started: { gate?: GateClient; wire?: Tap; services: Startable[] } = { services: [] };
  const close = async () => {
    await started.gate?.disconnect();
    await started.wire?.stop();
    await Promise.all(started.services.map((s) => s.stop()));
    await ns.cleanup();
  };
  try {
    await ns.migrate();
    await ns.createTopics();
    const evaluatorKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
    const orchestrator = await registerPrincipal(ns, options.tenant, options.orchestrator ?? 'orchestrator');
    await options.prepare?.();
    for (const bundle of options.bundles) await applyBundle(ns, bundle);
    const evaluator = startEvaluator(ns, evaluatorKey, options.evaluator?.instance, options.evaluator?.overrides);
    started.services = [evaluator, ...(options.alongside?.(evaluatorKey) ?? [])];
    await Promise.all(started.services.map((s) => s.start()));
    const gate = (started.gate = client(ns, orchestrator, evaluatorKey));
    await gate.connect();
    if (options.tap?.length)
      started.wire = await tap(
        ns,
        options.tap.map((topic) => ns.topics[topic]),
      );
    return {
      evaluatorKey,
      orchestrator,
      evaluator,
      gate,
      get wire(): Tap {
        if (!started.wire) throw new Error('openGateFixture: no tap was asked for (options.tap)');
        return started.wire;
      },
      close,
    };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
