import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findUnacceptable,
  HEADER_KEY_ID,
  MAX_VALUE_BYTES,
  HEADER_SIGNATURE,
  type AuditEvent,
  type GateDecision,
} from '@stepgate/contracts';
import { testNamespace } from '@stepgate/test';
import { applyBundle, registerPrincipal, sendRaw, signedHeaders, type Principal } from '../pipeline.js';
import { openGateFixture, type GateFixture } from '../gate-fixture.js';

/** The findings of the hostile-input check, each a named test on the real broker and Postgres. */
const ns = testNamespace('hostile-input');
const BROKER_MESSAGE_LIMIT = 1024 * 1024;

let stack: GateFixture;
let acme: Principal;
let evil: Principal;

const bundle = (tenant: string) => ({
  tenant_id: tenant,
  environment: 'staging',
  workflow_access: { mode: 'allowlist', allowed_workflows: ['data-analysis', 'wf'] },
  policies: [
    {
      name: 'no-drop',
      type: 'context_aware',
      category: 'dynamic-security',
      priority: 900,
      conditions: [{ field: 'tool_input.query', operator: 'contains', value: 'DROP' }],
      actions: [{ type: 'block', config: { reason: 'destructive SQL' } }],
    },
    {
      name: 'analysis-no-gpt-4',
      type: 'context_aware',
      category: 'dynamic-security',
      priority: 800,
      conditions: [
        { field: 'context.workflow_id', operator: 'equals', value: 'data-analysis' },
        { field: 'context.model', operator: 'equals', value: 'gpt-4' },
      ],
      actions: [{ type: 'block', config: { reason: 'no gpt-4 on analysis' } }],
    },
  ],
});

beforeAll(async () => {
  stack = await openGateFixture(ns, {
    tenant: 'acme',
    orchestrator: 'acme-orchestrator',
    prepare: async () => {
      evil = await registerPrincipal(ns, 'evil', 'evil-orchestrator');
    },
    bundles: [bundle('acme'), bundle('evil')],
    tap: ['gate.decisions', 'audit', 'dlq'],
  });
  acme = stack.orchestrator;
});

afterAll(async () => {
  await stack?.close();
});

const request = (overrides: Record<string, unknown> = {}) => ({
  request_id: randomUUID(),
  requested_at: new Date().toISOString(),
  workflow_id: 'wf',
  step_id: `s-${randomUUID().slice(0, 8)}`,
  step_type: 'tool_call',
  tool_context: { tool_name: 'sql', tool_input: { query: 'select 1' } },
  ...overrides,
});

/** Sends bytes as they are and waits for the decision that answers the request id. */
async function decisionFor(value: Buffer | string, headers: Record<string, string>, requestId: string) {
  await sendRaw(ns, value, headers);
  const raw = await stack.wire.until(() =>
    stack.wire.seen.find(
      (m) =>
        m.topic === ns.topics['gate.decisions'] &&
        (JSON.parse(m.value!.toString()) as GateDecision).request_id === requestId,
    ),
  );
  return { decision: JSON.parse(raw.value!.toString()) as GateDecision, bytes: raw.value!.length };
}

const signed = (p: Principal, body: unknown) => {
  const value = Buffer.from(JSON.stringify(body));
  return { value, headers: signedHeaders(p, value) };
};

/** A legitimate gate still answered: the consumer was not stopped by what came before. */
async function stillGating() {
  const d = await stack.gate.gate({ workflow_id: 'wf', step_id: `ok-${randomUUID()}`, step_type: 'llm_call' });
  expect(d.decision).toBe('allow');
}

describe('hostile input at the evaluator (real Kafka and Postgres)', () => {
  it('an unsigned body with tenant_id nested 5,000 levels deep is refused (INVALID_REQUEST); gating goes on', async () => {
    const body = request();
    const deep = '['.repeat(5_000) + ']'.repeat(5_000);
    const text = JSON.stringify(body).replace(/}$/, `,"tenant_id":${deep}}`);
    const { decision } = await decisionFor(text, {}, body.request_id);
    expect(decision.error?.code).toBe('INVALID_REQUEST');
    expect(decision.reason).toContain('levels deep');
    await stillGating();
  });

  it('a 600 KB workflow_id, a 600 KB key-id header: refused, nothing echoed at that size, every decision fits the broker', async () => {
    const big = request({ workflow_id: 'w'.repeat(600_000) });
    const first = await decisionFor(JSON.stringify(big), {}, big.request_id);
    expect(first.decision.error?.code).toBe('INVALID_REQUEST');
    expect(first.decision.workflow_id).toBeNull();
    expect(first.bytes).toBeLessThan(16 * 1024);

    const body = request();
    const bad = await decisionFor(
      JSON.stringify(body),
      { [HEADER_KEY_ID]: 'k'.repeat(600_000), [HEADER_SIGNATURE]: 'AAAA' },
      body.request_id,
    );
    expect(bad.decision.error?.code).toBe('UNAUTHENTICATED');
    expect(bad.bytes).toBeLessThan(16 * 1024);
    for (const m of stack.wire.seen) expect(m.value!.length).toBeLessThan(BROKER_MESSAGE_LIMIT);
    await stillGating();
  });

  it('an unsigned 100 KB request_id cannot be answered: a bounded dead letter, no decision; gating goes on', async () => {
    const marker = `rid-${randomUUID()}`;
    const body = { ...request(), request_id: `${marker}${'r'.repeat(100_000)}` };
    await sendRaw(ns, JSON.stringify(body), {});
    const dead = await stack.wire.until(() =>
      stack.wire.seen.find((m) => m.topic === ns.topics.dlq && m.value!.toString().includes(marker)),
    );
    expect(dead.headers['stepgate-dlq-reason']).toBe('NO_REQUEST_ID');
    expect(dead.value!.length).toBeLessThanOrEqual(64 * 1024);
    expect(
      stack.wire.json<GateDecision>(ns.topics['gate.decisions']).some((d) => d.request_id.startsWith(marker)),
    ).toBe(false);
    // Nor one a refusal could not echo as it is: a NUL or a lone surrogate in it.
    for (const [i, escape] of ['\\u0000', '\\ud800'].entries()) {
      const rid = `rid-${i}-${randomUUID()}`;
      await sendRaw(ns, JSON.stringify({ ...request(), request_id: rid }).replace(rid, `${rid}${escape}`), {});
      const unanswerable = await stack.wire.until(() =>
        stack.wire.seen.find((m) => m.topic === ns.topics.dlq && m.value!.toString().includes(rid)),
      );
      expect(unanswerable.headers['stepgate-dlq-reason']).toBe('NO_REQUEST_ID');
    }
    await stillGating();
  });

  it("a request reusing another tenant's request_id is refused (REQUEST_ID_CONFLICT) and carries its own hash, never acme's", async () => {
    const mine = signed(acme, request());
    const requestId = (JSON.parse(mine.value.toString()) as { request_id: string }).request_id;
    const acmeDecision = (await decisionFor(mine.value, mine.headers, requestId)).decision;
    expect(acmeDecision).toMatchObject({ decision: 'allow', tenant_id: 'acme', requester_key_id: acme.keyId });

    const theirs = signed(evil, request({ request_id: requestId }));
    await sendRaw(ns, theirs.value, theirs.headers);
    const refused = await stack.wire.until(() =>
      stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .find((d) => d.request_id === requestId && d.tenant_id === 'evil'),
    );
    expect(refused).toMatchObject({ decision: 'block', error: { code: 'REQUEST_ID_CONFLICT' } });
    expect(refused.request_sha256).not.toBe(acmeDecision.request_sha256);
    expect(
      stack.wire.json<GateDecision>(ns.topics['gate.decisions']).filter((d) => d.request_id === requestId),
    ).toHaveLength(2);
  });

  it('the same request_id with other bytes from the same tenant is refused; the same bytes again get the stored decision', async () => {
    const body = request();
    const first = signed(acme, body);
    const original = (await decisionFor(first.value, first.headers, body.request_id)).decision;
    await sendRaw(ns, first.value, first.headers); // a redelivery
    const changed = signed(acme, {
      ...body,
      tool_context: { tool_name: 'sql', tool_input: { query: 'DROP TABLE x' } },
    });
    await sendRaw(ns, changed.value, changed.headers);
    const answers = await stack.wire.until(() => {
      const all = stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .filter((d) => d.request_id === body.request_id);
      return all.length >= 3 ? all : undefined;
    });
    expect(answers[1]).toEqual(original);
    expect(answers[2]).toMatchObject({ decision: 'block', error: { code: 'REQUEST_ID_CONFLICT' } });
  });

  it('tool_input with more keys than policies see is refused naming the path (was: DROP after the 50th key allowed)', async () => {
    const toolInput: Record<string, string> = {};
    for (let i = 0; i < 59; i++) toolInput[`a${String(i).padStart(2, '0')}`] = 'x';
    toolInput.query = 'DROP TABLE users';
    const d = await stack.gate.gate({
      workflow_id: 'wf',
      step_id: `many-${randomUUID()}`,
      step_type: 'tool_call',
      tool_context: { tool_name: 'sql', tool_input: toolInput },
    });
    expect(d).toMatchObject({ decision: 'block', error: { code: 'INVALID_REQUEST' } });
    expect(d.reason).toContain('tool_context.tool_input');
  });

  it('__proto__, constructor or prototype keys anywhere are refused naming the path', async () => {
    for (const key of ['__proto__', 'constructor', 'prototype']) {
      const body = request();
      const text = JSON.stringify(body).replace('"query":"select 1"', `"query":"select 1","${key}":{"admin":true}`);
      const value = Buffer.from(text);
      const { decision } = await decisionFor(value, signedHeaders(acme, value), body.request_id);
      expect(decision.error?.code).toBe('INVALID_REQUEST');
      expect(decision.reason).toContain(`tool_context.tool_input.${key}`);
    }
  });

  it('a lone UTF-16 surrogate (\ud800) in a value, a key or an echoed field is refused naming the path, before it reaches Postgres (jsonb cannot store it)', async () => {
    const surrogate = 'lone UTF-16 surrogate';
    const cases: Array<{ from: string; to: string; path: string; kind: string }> = [
      {
        from: '"query":"select 1"',
        to: '"query":"select 1\\ud800"',
        path: 'tool_context.tool_input.query',
        kind: surrogate,
      },
      {
        from: '"query":"select 1"',
        to: '"query":"select 1","\\udc00k":1',
        path: 'tool_context.tool_input.\ufffdk',
        kind: surrogate,
      },
      { from: '"step_id":"', to: '"step_id":"\\ud83d', path: 'step_id', kind: surrogate },
      {
        from: '"query":"select 1"',
        to: '"query":"select 1","k\\u0000":1',
        path: 'tool_context.tool_input.k\ufffd',
        kind: 'NUL character',
      },
    ];
    for (const c of cases) {
      const body = request();
      const value = Buffer.from(JSON.stringify(body).replace(c.from, c.to));
      const { decision } = await decisionFor(value, signedHeaders(acme, value), body.request_id);
      expect(decision.error?.code).toBe('INVALID_REQUEST');
      // Its key signed it: filed under its tenant, so its client takes the refusal as its answer.
      expect(decision.tenant_id).toBe('acme');
      expect(decision.reason).toContain(`${c.path}: contains a ${c.kind}`);
      // Nothing echoed that Postgres (or a SIEM) could not store.
      expect(findUnacceptable(decision)).toBeUndefined();
    }
    // Unsigned, or with a signature acme's key did not make: refused the same, filed under no tenant.
    const forged = { ...signedHeaders(evil, Buffer.from('other bytes')), [HEADER_KEY_ID]: acme.keyId };
    for (const headers of [{}, forged]) {
      const body = request();
      const value = Buffer.from(JSON.stringify(body).replace('"query":"select 1"', '"query":"select 1\\ud800"'));
      const { decision } = await decisionFor(value, headers, body.request_id);
      expect([decision.error?.code, decision.tenant_id]).toEqual(['INVALID_REQUEST', null]);
    }
    // A well-formed pair (an emoji) is text like any other.
    const emoji = request({ tool_context: { tool_name: 'sql', tool_input: { query: 'select 1 -- \ud83d\ude00' } } });
    const s = signed(acme, emoji);
    const { decision } = await decisionFor(s.value, s.headers, emoji.request_id);
    expect(decision.decision).toBe('allow');
    await stillGating();
  });

  it('a signed request over 256 KiB is refused under its tenant (its client, of any language, takes the answer); unsigned, under none', async () => {
    const oversize = (body: ReturnType<typeof request>) =>
      Buffer.from(JSON.stringify({ ...body, step_input: { pad: 'x'.repeat(300_000) } }));
    const body = request();
    const value = oversize(body);
    const { decision } = await decisionFor(value, signedHeaders(acme, value), body.request_id);
    expect([decision.error?.code, decision.tenant_id]).toEqual(['INVALID_REQUEST', 'acme']);
    expect(decision.reason).toContain(`the limit is ${MAX_VALUE_BYTES}`);
    expect([decision.workflow_id, decision.step_id]).toEqual([body.workflow_id, body.step_id]);
    const forged = { ...signedHeaders(evil, Buffer.from('other bytes')), [HEADER_KEY_ID]: acme.keyId };
    for (const headers of [{}, forged]) {
      const other = request();
      const { decision: refused } = await decisionFor(oversize(other), headers, other.request_id);
      expect([refused.error?.code, refused.tenant_id]).toEqual(['INVALID_REQUEST', null]);
    }
    await stillGating();
  });

  it('an unknown key inside tool_context is refused (INVALID_REQUEST), not ignored', async () => {
    const body = request({ tool_context: { tool_name: 'sql', tool_input: {}, tool_inputs: { query: 'DROP' } } });
    const s = signed(acme, body);
    const { decision } = await decisionFor(s.value, s.headers, body.request_id);
    expect(decision.error?.code).toBe('INVALID_REQUEST');
  });

  it('DATA-ANALYSIS meets the policies written for data-analysis (one case rule with the allowlist)', async () => {
    const d = await stack.gate.gate({
      workflow_id: 'DATA-ANALYSIS',
      step_id: `c-${randomUUID()}`,
      step_type: 'llm_call',
      model: 'gpt-4',
    });
    expect(d.decision).toBe('block');
    expect(d.policies_matched.map((p) => p.policy_id)).toEqual(['analysis-no-gpt-4']);
  });

  it('an idempotent retry that changes model, provider, step type, cost or mode gets STEP_INPUT_MISMATCH', async () => {
    const base = {
      workflow_id: 'wf',
      step_type: 'llm_call' as const,
      model: 'claude',
      provider: 'anthropic',
      cost_usd: 0.01,
    };
    const changes: Array<Record<string, unknown>> = [
      { model: 'gpt-4' },
      { provider: 'openai' },
      { step_type: 'connector_call' },
      { cost_usd: 50 },
      { execution_mode: 'background' },
    ];
    for (const change of changes) {
      const step_id = `retry-${randomUUID()}`;
      expect((await stack.gate.gate({ ...base, step_id })).decision).toBe('allow');
      const again = await stack.gate.gate({ ...base, step_id, ...change });
      expect({ change, code: again.error?.code }).toEqual({ change, code: 'STEP_INPUT_MISMATCH' });
    }
  });

  it('the step ledger follows the same case rule: a retry under WF-Case meets the row of wf-case', async () => {
    const step_id = `case-${randomUUID()}`;
    expect(
      (await stack.gate.gate({ workflow_id: 'wf', step_id, step_type: 'llm_call', model: 'claude' })).decision,
    ).toBe('allow');
    const again = await stack.gate.gate({ workflow_id: 'WF', step_id, step_type: 'llm_call', model: 'gpt-4' });
    expect(again.error?.code).toBe('STEP_INPUT_MISMATCH');
    expect(again.retry_context?.gate_count).toBe(2);
  });

  it('an upper-case request_id is the same request: redelivered as such, and still refused to another tenant', async () => {
    const body = request({ request_id: randomUUID().toUpperCase() });
    const mine = signed(acme, body);
    const first = (await decisionFor(mine.value, mine.headers, body.request_id)).decision;
    await sendRaw(ns, mine.value, mine.headers);
    const theirs = signed(evil, { ...request(), request_id: body.request_id.toLowerCase() });
    await sendRaw(ns, theirs.value, theirs.headers);
    const refusedToEvil = await stack.wire.until(() =>
      stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .find((d) => d.request_id === body.request_id.toLowerCase() && d.tenant_id === 'evil'),
    );
    expect(refusedToEvil.error?.code).toBe('REQUEST_ID_CONFLICT');
    // Acme's redelivery, sent before evil's attempt and after it, gets acme's decision again.
    await sendRaw(ns, mine.value, mine.headers);
    const acmeAnswers = await stack.wire.until(() => {
      const all = stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .filter((d) => d.request_id === body.request_id);
      return all.length >= 3 ? all : undefined;
    });
    expect(acmeAnswers.every((d) => d.decision_id === first.decision_id)).toBe(true);
  });

  it('a bundle that makes decisions too large gets a bounded ENGINE_ERROR refusal, not a record the broker refuses', async () => {
    const bloat = await registerPrincipal(ns, 'bloat', 'bloat-orchestrator');
    await applyBundle(ns, {
      tenant_id: 'bloat',
      environment: 'staging',
      workflow_access: { mode: 'open' },
      policies: Array.from({ length: 400 }, (_, i) => ({
        name: `p-${i}`,
        type: 'context_aware',
        category: 'dynamic-security',
        priority: i,
        conditions: [{ field: 'context.model', operator: 'equals', value: `never-${i}` }],
        actions: [{ type: 'block', config: { reason: 'r'.repeat(990) } }],
      })),
    });
    const s = signed(bloat, request());
    const { decision, bytes } = await decisionFor(
      s.value,
      s.headers,
      (JSON.parse(s.value.toString()) as { request_id: string }).request_id,
    );
    expect(decision.error?.code).toBe('ENGINE_ERROR');
    expect(bytes).toBeLessThan(256 * 1024);
    // Refused before it was recorded: the audit trail and the stored decision are the refusal sent.
    const audited = await stack.wire.until(() =>
      stack.wire.json<AuditEvent>(ns.topics.audit).find((a) => a.decision_id === decision.decision_id),
    );
    expect(audited).toMatchObject({ decision: 'block', error_code: 'ENGINE_ERROR' });
    const { rows } = await ns.pool.query<{ id: string }>(
      `select decision->>'decision_id' as id from gate_decisions where request_id = $1`,
      [decision.request_id],
    );
    expect(rows).toEqual([{ id: decision.decision_id }]);
    await stillGating();
  });

  it('every refusal above is audited with bounded fields only', async () => {
    const audit = stack.wire.json<AuditEvent>(ns.topics.audit);
    expect(audit.length).toBeGreaterThan(0);
    for (const e of audit) {
      for (const field of ['workflow_id', 'step_id', 'agent_id', 'user_id', 'session_id'] as const)
        expect((e[field] ?? '').length).toBeLessThanOrEqual(255);
    }
  });
});
