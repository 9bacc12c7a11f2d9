import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testNamespace } from '@stepgate/test';
// The CLI's own test harness (test code: shared, not published).
import { adminCli } from '../../packages/cli/test/admin-harness.js';
import { applyBundle, client, registerPrincipal } from '../pipeline.js';
import { openEvaluatorPair, type EvaluatorPair } from './evaluator-pair.js';

const ns = testNamespace('tenant-notices');
const admin = adminCli(ns, 'notices');
let pair: EvaluatorPair;

const open = { tenant_id: 'acme', environment: 'staging', workflow_access: { mode: 'open' }, policies: [] };
const blockAll = {
  ...open,
  policies: [
    {
      name: 'freeze',
      type: 'context_aware',
      category: 'dynamic-security',
      priority: 900,
      conditions: [{ field: 'context.step_type', operator: 'equals', value: 'llm_call' }],
      actions: [{ type: 'block', config: { reason: 'frozen' } }],
    },
  ],
};
const step = () => ({ workflow_id: 'wf', step_id: `s-${randomUUID()}`, step_type: 'llm_call' as const });

beforeAll(async () => {
  await admin.setUp();
  // Caches long enough that only a pushed notice (or the bundle's max age) can explain a change.
  pair = await openEvaluatorPair(ns, {
    bundle: open,
    overrides: { credentialCacheMs: 600_000, bundleMaxAgeMs: 1_500 },
  });
});

afterAll(async () => {
  await pair?.close();
  await ns.cleanup();
});

describe('tenant notices (real Kafka and Postgres, two evaluators)', () => {
  it('a revoked key is refused on every evaluator within about a second, though credentials are cached for 10 minutes', async () => {
    // Gate on many workflows, so both evaluators (12 partitions) have the key cached.
    const before = await Promise.all(
      Array.from({ length: 12 }, (_, i) => pair.gate.gate({ ...step(), workflow_id: `wf-${i}` })),
    );
    expect(new Set(before.map((d) => d.decision))).toEqual(new Set(['allow']));

    expect((await admin.cli(['credentials', 'revoke', pair.acme.keyId])).code).toBe(0);
    const revokedAt = Date.now();
    await expect
      .poll(
        async () => {
          const after = await Promise.all(
            Array.from({ length: 12 }, (_, i) => pair.gate.gate({ ...step(), workflow_id: `wf-${i}` })),
          );
          return after.every((d) => d.error?.code === 'UNAUTHENTICATED');
        },
        { timeout: 10_000, interval: 200 },
      )
      .toBe(true);
    expect(Date.now() - revokedAt).toBeLessThan(5_000);
  });

  it('a bundle whose notice was lost is picked up within the bundle max age', async () => {
    const other = await registerPrincipal(ns, 'acme', 'acme-second');
    const second = client(ns, other, pair.evaluatorKey);
    await second.connect();
    try {
      expect((await second.gate(step())).decision).toBe('allow');
      // Stored without a notice on `policies`, as if the notice had been lost.
      await applyBundle(ns, blockAll, { announce: false });
      await expect.poll(async () => (await second.gate(step())).decision, { timeout: 10_000 }).toBe('block');
    } finally {
      await second.disconnect();
    }
  });
});
