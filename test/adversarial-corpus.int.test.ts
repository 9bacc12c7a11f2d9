import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  HEADER_KEY_ID,
  HEADER_SIGNATURE,
  newAuditEvent,
  type AuditEvent,
  type GateDecision,
} from '@stepgate/contracts';
import { privateKeyFromPem, signBytes } from '@stepgate/contracts/node';
import { AuditService } from '@stepgate/audit';
import { testNamespace } from '@stepgate/test';
import { auditConfig, registerPrincipal, type Principal } from './pipeline.js';
import { produceWithPython } from './python.js';
import { approvalRequestFixture, openApprovalsFixture, type ApprovalsFixture } from './approvals-fixture.js';

/**
 * An adversarial corpus through the real services: hostile messages on every topic stepgate
 * consumes, generated from a fixed seed (reproducible), interleaved with a legitimate tenant's gates.
 * Every attributable request gets a decision with the expected error code, everything else a dlq
 * record with its reason; the legitimate gates are all answered; no consumer restarts; the audit log
 * holds each valid event once.
 */
const SEED = 20261201;
const PER_KIND = 40;

const ns = testNamespace('corpus');
let stack: ApprovalsFixture<never>;
let acme: Principal;
let evil: Principal;
let revoked: Principal;
let audit: AuditService;

type Expect = { decision: string } | { dlq: string } | { nothing: true };
interface Hostile {
  kind: string;
  topic: 'gate.requests' | 'step.completions' | 'approvals' | 'audit' | 'policies';
  /** What identifies its answer: the request_id of a decision, or a marker at the start of the bytes. */
  id: string;
  value: Buffer;
  /** null: a header without a value (kafkajs hands it to consumers as null). */
  headers: Record<string, string | null>;
  expect: Expect;
}

const unattributable = (kind: string, topic: Hostile['topic'], value: (marker: string) => Buffer, reason: string) => ({
  kind,
  topic,
  make: (i: number): Hostile => {
    const marker = `corpus-${kind}-${i}-`;
    return { kind, topic, id: marker, value: value(marker), headers: {}, expect: { dlq: reason } };
  },
});

function request(overrides: Record<string, unknown> = {}) {
  return {
    request_id: randomUUID(),
    requested_at: new Date().toISOString(),
    workflow_id: 'wf',
    step_id: `s-${randomUUID().slice(0, 8)}`,
    step_type: 'llm_call',
    ...overrides,
  };
}

const sign = (p: Principal, value: Buffer) => ({
  [HEADER_KEY_ID]: p.keyId,
  [HEADER_SIGNATURE]: signBytes(privateKeyFromPem(p.privateKeyPem), value),
});

/** A gate request whose answer is a refusal with `code`; `tamper` makes it hostile. */
const refused = (
  kind: string,
  code: string,
  build: (i: number, text: string) => { value: Buffer | string; headers: Record<string, string | null> },
  overrides: (i: number) => Record<string, unknown> = () => ({}),
) => ({
  kind,
  topic: 'gate.requests' as const,
  make: (i: number): Hostile => {
    const body = request(overrides(i));
    const built = build(i, JSON.stringify(body));
    return {
      kind,
      topic: 'gate.requests',
      id: body.request_id,
      value: Buffer.from(built.value),
      headers: built.headers,
      expect: { decision: code },
    };
  },
});

/** The hostile kinds; `stolen` holds request ids acme's legitimate gates used (filled before building). */
function hostileKinds(
  stolen: string[],
): Array<{ kind: string; topic: Hostile['topic']; make: (i: number) => Hostile }> {
  const texts = fc.sample(fc.string({ unit: 'binary', maxLength: 200 }), { seed: SEED, numRuns: PER_KIND });
  const json = fc.sample(fc.jsonValue({ maxDepth: 4 }), { seed: SEED + 1, numRuns: PER_KIND });
  const wrongTypes = fc.sample(
    fc.record({
      step_type: fc.oneof(fc.integer(), fc.boolean(), fc.constant(null), fc.string({ maxLength: 5 })),
      step_index: fc.oneof(fc.double({ min: -1e300, max: -1 }), fc.constant(1.5), fc.string()),
    }),
    { seed: SEED + 2, numRuns: PER_KIND },
  );
  const signedBy = (p: Principal) => (_: number, text: string) => ({
    value: text,
    headers: sign(p, Buffer.from(text)),
  });
  return [
    // gate.requests that cannot be attributed: dlq.
    unattributable('not-json', 'gate.requests', (m) => Buffer.from(`${m}{not json`), 'NOT_UTF8_JSON'),
    unattributable(
      'bad-utf8',
      'gate.requests',
      (m) => Buffer.concat([Buffer.from(m), Buffer.from([0xc3, 0x28, 0xff])]),
      'NOT_UTF8_JSON',
    ),
    unattributable(
      'no-request-id',
      'gate.requests',
      (m) => Buffer.from(JSON.stringify({ marker: m, workflow_id: 'wf', step_id: 's' })),
      'NO_REQUEST_ID',
    ),
    // gate.requests that can: a refusal decision with its code.
    refused('deep', 'INVALID_REQUEST', (i, t) => ({
      value: t.replace(/}$/, `,"step_input":{"x":${'['.repeat(2_000 + i)}${']'.repeat(2_000 + i)}}}`),
      headers: {},
    })),
    refused('oversize', 'INVALID_REQUEST', (_i, t) => ({
      value: t.replace(/}$/, `,"step_input":{"pad":"${'x'.repeat(300_000)}"}}`),
      headers: {},
    })),
    refused('nul', 'INVALID_REQUEST', signedBy(acme), (i) => ({ step_name: `a\u0000${i}` })),
    // Echoed fields too: its refusal and the refusal's audit event must still be storable.
    refused('lone-surrogate', 'INVALID_REQUEST', signedBy(acme), (i) => ({ step_id: `s\ud800${i}` })),
    refused('proto', 'INVALID_REQUEST', (_i, t) => {
      const text = t.replace(/}$/, ',"step_input":{"__proto__":{"admin":true}}}');
      return { value: text, headers: sign(acme, Buffer.from(text)) };
    }),
    refused('wrong-types', 'INVALID_REQUEST', signedBy(acme), (i) => wrongTypes[i % wrongTypes.length]!),
    refused('arbitrary-input', 'INVALID_REQUEST', signedBy(acme), (i) => ({
      step_input: { nested: json[i % json.length] ?? null },
      unknown_field: texts[i % texts.length],
    })),
    refused('unsigned', 'UNAUTHENTICATED', (_i, t) => ({ value: t, headers: {} })),
    refused('headers-without-values', 'UNAUTHENTICATED', (_i, t) => ({
      value: t,
      headers: { [HEADER_KEY_ID]: null, [HEADER_SIGNATURE]: null, traceparent: null },
    })),
    refused('bad-signature', 'UNAUTHENTICATED', (_i, t) => ({
      value: t,
      headers: {
        ...sign(acme, Buffer.from(t)),
        [HEADER_SIGNATURE]: sign(acme, Buffer.from(`${t} `))[HEADER_SIGNATURE],
      },
    })),
    refused('short-signature', 'UNAUTHENTICATED', (_i, t) => ({
      value: t,
      headers: { [HEADER_KEY_ID]: acme.keyId, [HEADER_SIGNATURE]: 'AA' },
    })),
    refused('unknown-key', 'UNAUTHENTICATED', (i, t) => ({
      value: t,
      headers: { [HEADER_KEY_ID]: `nobody-${i}`, [HEADER_SIGNATURE]: sign(acme, Buffer.from(t))[HEADER_SIGNATURE] },
    })),
    refused('oversize-key-id', 'UNAUTHENTICATED', (i, t) => ({
      value: t,
      headers: { [HEADER_KEY_ID]: `k${'x'.repeat(10_000 + i)}`, [HEADER_SIGNATURE]: 'AAAA' },
    })),
    refused('revoked-key', 'UNAUTHENTICATED', signedBy(revoked)),
    refused('spoofed-tenant', 'TENANT_MISMATCH', signedBy(evil), () => ({ tenant_id: 'acme' })),
    refused('far-past', 'STALE_REQUEST', signedBy(acme), (i) => ({
      requested_at: new Date(Date.now() - (3_600_000 + i * 86_400_000)).toISOString(),
    })),
    refused('far-future', 'STALE_REQUEST', signedBy(acme), (i) => ({
      requested_at: new Date(Date.now() + 3_600_000 + i * 86_400_000).toISOString(),
    })),
    {
      kind: 'cross-tenant-request-id',
      topic: 'gate.requests' as const,
      make: (i: number): Hostile => {
        // evil reuses a request_id acme's legitimate gates already used.
        const body = request({ request_id: stolen[i % stolen.length] });
        const value = Buffer.from(JSON.stringify(body));
        return {
          kind: 'cross-tenant-request-id',
          topic: 'gate.requests',
          id: `${body.request_id}/evil`,
          value,
          headers: sign(evil, value),
          expect: { decision: 'REQUEST_ID_CONFLICT' },
        };
      },
    },
    // Other topics.
    unattributable('completion-not-json', 'step.completions', (m) => Buffer.from(`${m}]]`), 'NOT_UTF8_JSON'),
    unattributable(
      'completion-unsigned',
      'step.completions',
      (m) =>
        Buffer.from(
          JSON.stringify({
            completion_id: randomUUID(),
            completed_at: new Date().toISOString(),
            workflow_id: m,
            step_id: 's',
          }),
        ),
      'UNAUTHENTICATED',
    ),
    unattributable('approval-not-json', 'approvals', (m) => Buffer.from(`${m}\u0000`), 'NOT_UTF8_JSON'),
    {
      // A well-formed request whose signature headers have no value: refused, not a crash of the consumer.
      kind: 'approval-headers-without-values',
      topic: 'approvals' as const,
      make: (i: number): Hostile => {
        const marker = `corpus-approval-null-headers-${i}-`;
        return {
          kind: 'approval-headers-without-values',
          topic: 'approvals',
          id: marker,
          value: Buffer.from(JSON.stringify(approvalRequestFixture({ workflow_id: 'wf-corpus', reason: marker }))),
          headers: { [HEADER_KEY_ID]: null, [HEADER_SIGNATURE]: null },
          expect: { dlq: 'UNAUTHENTICATED' },
        };
      },
    },
    unattributable(
      'approval-wrong-shape',
      'approvals',
      (m) => Buffer.from(JSON.stringify({ marker: m, type: 'approval.requested', approval_id: 42 })),
      'INVALID_APPROVAL_EVENT',
    ),
    unattributable(
      'approval-deep',
      'approvals',
      (m) => Buffer.from(`{"marker":"${m}","type":${'['.repeat(20_000)}${']'.repeat(20_000)}}`),
      'TOO_DEEP',
    ),
    unattributable('audit-not-json', 'audit', (m) => Buffer.from(`${m}{"id":`), 'NOT_UTF8_JSON'),
    unattributable(
      'audit-deep',
      'audit',
      (m) => Buffer.from(`{"marker":"${m}","detail":${'['.repeat(50_000)}${']'.repeat(50_000)}}`),
      'TOO_DEEP',
    ),
    unattributable(
      'audit-future',
      'audit',
      (m) =>
        Buffer.from(
          JSON.stringify({
            ...newAuditEvent({ tenant_id: 'acme', action: 'GateEvaluated', outcome: 'allow', workflow_id: m }),
            timestamp: new Date(Date.now() + 86_400_000 * 365).toISOString(),
          }),
        ),
      'TIMESTAMP_OUT_OF_RANGE',
    ),
    // Valid by the schema, but 1e400 parses to Infinity, which has no canonical form: not storable.
    unattributable(
      'audit-infinite-number',
      'audit',
      (m) =>
        Buffer.from(
          JSON.stringify({
            ...newAuditEvent({ tenant_id: 'acme', action: 'GateEvaluated', outcome: 'allow', workflow_id: m }),
            detail: { x: '@inf@' },
          }).replace('"@inf@"', '1e400'),
        ),
      'INVALID_AUDIT_EVENT',
    ),
    {
      kind: 'policies-garbage',
      topic: 'policies' as const,
      make: (i: number): Hostile => ({
        kind: 'policies-garbage',
        topic: 'policies',
        id: `policies-${i}`,
        value: Buffer.from(texts[i % texts.length] ?? ''),
        headers: {},
        expect: { nothing: true },
      }),
    },
  ];
}

beforeAll(async () => {
  const open = { environment: 'staging', workflow_access: { mode: 'open' }, policies: [] };
  stack = await openApprovalsFixture(ns, {
    tenant: 'acme',
    orchestrator: 'acme-orchestrator',
    approvers: {},
    prepare: async () => {
      evil = await registerPrincipal(ns, 'evil', 'evil-orchestrator');
      revoked = await registerPrincipal(ns, 'acme', 'acme-retired');
      await ns.pool.query('update credentials set revoked_at = now() where key_id = $1', [revoked.keyId]);
    },
    bundles: [
      { tenant_id: 'acme', ...open },
      { tenant_id: 'evil', ...open },
    ],
    alongside: () => [(audit = new AuditService(auditConfig(ns)))],
    tap: ['gate.decisions', 'dlq', 'audit'],
  });
  acme = stack.orchestrator;
}, 120_000);

afterAll(async () => {
  await stack?.close();
});

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const legitStep = () => ({
  workflow_id: `wf-${randomUUID().slice(0, 4)}`,
  step_id: `ok-${randomUUID()}`,
  step_type: 'llm_call' as const,
});

describe('adversarial corpus through the real services', () => {
  it('answers every hostile message (decision or dlq), every legitimate gate, restarts nothing, stores each event once', async () => {
    const started = Date.now();
    const first = await Promise.all(range(20).map(() => stack.gate.gate(legitStep())));
    const stolen = first.map((d) => d.request_id);
    const hostile = hostileKinds(stolen).flatMap((k) => range(PER_KIND).map((i) => k.make(i)));
    expect(hostile.length).toBeGreaterThanOrEqual(1_000);

    // Sent one record per request (some are 300 KB: a batch of them would pass the broker's limit),
    // with a legitimate gate launched every 25 hostile messages.
    const producer = ns.kafka.producer();
    await producer.connect();
    const legit: Array<Promise<GateDecision>> = [];
    // Headers without a value: kafkajs cannot send them, librdkafka (another client) can.
    const valueless = (h: Hostile) => Object.values(h.headers).some((v) => v === null);
    await produceWithPython(
      ns.endpoints.kafkaBrokers,
      hostile.filter(valueless).map((h) => ({
        topic: ns.topics[h.topic],
        key: h.id.slice(0, 36),
        value: h.value,
        headers: Object.entries(h.headers),
      })),
    );
    for (const [i, h] of hostile.filter((h) => !valueless(h)).entries()) {
      await producer.send({
        topic: ns.topics[h.topic],
        messages: [
          {
            key: h.topic === 'policies' ? 'acme' : h.id.slice(0, 36),
            value: h.value,
            headers: h.headers as Record<string, string>, // none null (those went through librdkafka)
          },
        ],
      });
      if (i % 25 === 0) legit.push(stack.gate.gate(legitStep(), { timeoutMs: 120_000 }));
    }
    await producer.disconnect();

    const decided = (h: Hostile) => {
      const [requestId, tenant] = h.id.split('/');
      return stack.wire
        .json<GateDecision>(ns.topics['gate.decisions'])
        .find((d) => d.request_id === requestId && (tenant === undefined || d.tenant_id === tenant));
    };
    const deadLettered = (h: Hostile) =>
      stack.wire.seen.find((m) => m.topic === ns.topics.dlq && m.value!.includes(h.id));
    const answered = (h: Hostile) => ('decision' in h.expect ? decided(h) : 'dlq' in h.expect ? deadLettered(h) : true);
    await expect
      .poll(() => hostile.filter((h) => !answered(h)).map((h) => h.kind), { timeout: 120_000, interval: 500 })
      .toEqual([]);

    const outcomes = new Map<string, number>();
    for (const h of hostile) {
      let got: string;
      if ('decision' in h.expect) got = decided(h)!.error?.code ?? decided(h)!.decision;
      else if ('dlq' in h.expect) got = `dlq:${deadLettered(h)!.headers['stepgate-dlq-reason']}`;
      else got = 'ignored';
      const want = 'decision' in h.expect ? h.expect.decision : 'dlq' in h.expect ? `dlq:${h.expect.dlq}` : 'ignored';
      expect({ kind: h.kind, got }).toEqual({ kind: h.kind, got: want });
      outcomes.set(got, (outcomes.get(got) ?? 0) + 1);
    }

    const legitimate = await Promise.all(legit);
    expect(legitimate.map((d) => d.decision)).toEqual(legitimate.map(() => 'allow'));

    expect({
      evaluator: stack.evaluator.consumerRestarts,
      approvals: stack.service!.consumerRestarts,
      audit: audit.consumerRestarts,
    }).toEqual({ evaluator: 0, approvals: 0, audit: 0 });

    // Each valid audit event once in audit_log (the hostile ones went to the dlq instead). Read both
    // sides on every poll: a valid event published after a first look (an alert, an approval's audit)
    // must be waited for, not counted as extra.
    const validIds = () =>
      new Set(
        stack.wire.seen
          .filter((m) => m.topic === ns.topics.audit && !m.value!.includes('corpus-'))
          .map((m) => (JSON.parse(m.value!.toString()) as AuditEvent).id),
      );
    const stored = async () => (await ns.pool.query<{ id: string }>('select id from audit_log')).rows.map((r) => r.id);
    // The assertions read the poll's last look: a valid event published after it (an alert, an
    // approval's audit) would otherwise be counted as missing before the consumer could store it.
    let [want, got] = [validIds(), await stored()];
    await expect
      .poll(
        async () => {
          [want, got] = [validIds(), await stored()];
          return got.length === want.size && got.every((id) => want.has(id));
        },
        { timeout: 60_000, interval: 500 },
      )
      .toBe(true);
    expect(new Set(got)).toEqual(want);
    expect(got).toHaveLength(want.size);
    const auditRows = want.size;

    const summary = [...outcomes].map(([k, n]) => `${k} ${n}`).join(', ');
    console.log(
      `adversarial corpus (seed ${SEED}): ${hostile.length} hostile over 5 topics + ${legit.length + first.length} legitimate gates in ${((Date.now() - started) / 1000).toFixed(1)} s: ${summary}; legitimate all allow; 0 restarts; ${auditRows} audit rows, each once`,
    );
  }, 240_000);
});
