/**
 * Two evaluators (instances a and b) sharing a namespace's gate.requests partitions, and acme's
 * orchestrator gating on them: for tests of what must reach every evaluator (notices, kill switches).
 */
import type { GateClient } from '@stepgate/client';
import type { Evaluator, EvaluatorConfig } from '@stepgate/evaluator';
import type { TestNamespace } from '@stepgate/test';
import { applyBundle, client, registerPrincipal, startEvaluator, type Principal } from '../pipeline.js';

export interface EvaluatorPair {
  evaluatorKey: Principal;
  /** acme's orchestrator, `acme-orchestrator`. */
  acme: Principal;
  evaluators: Evaluator[];
  /** acme's gate client, connected. */
  gate: GateClient;
  /** Stops the client and the evaluators (the namespace is the test's to clean up). */
  close(): Promise<void>;
}

/** On a migrated namespace with its topics: applies acme's `bundle`, then starts both evaluators with `overrides`. */
export async function openEvaluatorPair(
  ns: TestNamespace,
  options: { bundle: { tenant_id: string } & Record<string, unknown>; overrides: Partial<EvaluatorConfig> },
): Promise<EvaluatorPair> {
  const evaluators: Evaluator[] = [];
  let gate: GateClient | undefined;
  const close = async () => {
    await gate?.disconnect();
    await Promise.all(evaluators.map((e) => e.stop()));
  };
  try {
    const evaluatorKey = await registerPrincipal(ns, 'stepgate', 'evaluator');
    const acme = await registerPrincipal(ns, 'acme', 'acme-orchestrator');
    await applyBundle(ns, options.bundle);
    for (const instance of ['a', 'b']) evaluators.push(startEvaluator(ns, evaluatorKey, instance, options.overrides));
    await Promise.all(evaluators.map((e) => e.start()));
    gate = client(ns, acme, evaluatorKey);
    await gate.connect();
    return { evaluatorKey, acme, evaluators, gate, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
