import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import pino from 'pino';
import { Counter, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert, AuditEvent } from '@stepgate/contracts';
import { run } from '@stepgate/cli';
import { groupCaughtUp, parseCef, Relay, testNamespace } from '@stepgate/test';
import { auditConfig, tap } from '../pipeline.js';
import { AlertsConsumer, AuditService } from '@stepgate/audit';
import { CSV_COLUMNS } from '@stepgate/audit-log';

const ns = testNamespace('audit');
let relay: Relay;
let service: AuditService;
let serviceConfig: ReturnType<typeof auditConfig>;
let wire: Awaited<ReturnType<typeof tap>>;

beforeAll(async () => {
  await ns.migrate();
  await ns.createTopics();
  await ns.pool.query(
    `insert into alert_thresholds (tenant_id, rule, threshold, window_seconds) values ('spiky', 'block_spike', 5, 60)`,
  );
  const url = new URL(ns.endpoints.databaseUrl);
  relay = new Relay({ host: url.hostname, port: Number(url.port || 5432) });
  await relay.open();
  url.port = String(relay.port);
  // Small write slices: a fetched batch spans several write transactions, as large ones do in production.
  serviceConfig = auditConfig(ns, { databaseUrl: url.toString(), writeSlice: 64 });
  service = new AuditService(serviceConfig);
  await service.start();
  wire = await tap(ns, [ns.topics.alerts, ns.topics.audit, ns.topics.dlq]);
  Object.assign(process.env, {
    DATABASE_URL: ns.endpoints.databaseUrl,
    STEPGATE_DB_SCHEMA: ns.schema,
    STEPGATE_AUDIT_RETENTION_FLOOR_DAYS: '30',
  });
});

afterAll(async () => {
  await wire?.stop();
  await service?.stop();
  await ns.cleanup();
});

const event = (tenant: string, overrides: Partial<AuditEvent> = {}): AuditEvent => ({
  id: randomUUID(),
  timestamp: new Date().toISOString(),
  tenant_id: tenant,
  agent_id: 'agent-7',
  session_id: 'sess-1',
  user_id: 'dev-1',
  workflow_id: 'wf-1',
  execution_id: null,
  step_id: `s-${randomUUID().slice(0, 6)}`,
  action: 'GateEvaluated',
  outcome: 'allow',
  inputs_summary: '{ q: "hello" }',
  elapsed_ms: 1.25,
  decision_id: randomUUID(),
  decision: 'allow',
  policies_matched: [],
  error_code: null,
  detail: { request_id: randomUUID() },
  ...overrides,
});

async function publish(events: AuditEvent[]): Promise<void> {
  const producer = ns.kafka.producer();
  await producer.connect();
  for (let i = 0; i < events.length; i += 500)
    await producer.send({
      topic: ns.topics.audit,
      messages: events.slice(i, i + 500).map((e) => ({ key: e.tenant_id ?? 'unattributed', value: JSON.stringify(e) })),
    });
  await producer.disconnect();
}

async function rowsOf(tenant: string): Promise<number> {
  const { rows } = await ns.pool.query<{ n: number }>('select count(*)::int as n from audit_log where tenant_id = $1', [
    tenant,
  ]);
  return rows[0]!.n;
}

async function eventually(fn: () => Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  await expect.poll(fn, { timeout: timeoutMs, interval: 100, message: `timed out waiting for ${what}` }).toBe(true);
}

async function cli(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { out: (t) => void (stdout += t), err: (t) => void (stderr += t), cwd: process.cwd() });
  return { code, stdout, stderr };
}

describe('audit consumer on real Kafka and Postgres', () => {
  it('stores each event once however often it is delivered, with every reference field', async () => {
    const events = Array.from({ length: 200 }, () => event('dup'));
    await publish(events);
    await publish(events.slice(0, 100));
    await publish(events.slice(50, 150));
    const marker = event('dup');
    await publish([marker]);
    await eventually(async () => (await rowsOf('dup')) === 201, 'all 201 rows');
    // Every delivery, duplicates included, has been consumed: none can add a row after this count.
    await eventually(
      () => groupCaughtUp(ns, serviceConfig.groupId, ns.topics.audit),
      'the consumer to catch up',
      20_000,
    );
    expect(await rowsOf('dup')).toBe(201);
    const { rows } = await ns.pool.query<{ event: AuditEvent }>('select * from audit_log where id = $1', [
      events[0]!.id,
    ]);
    expect(rows[0]).toMatchObject({
      tenant_id: 'dup',
      agent_id: 'agent-7',
      session_id: 'sess-1',
      user_id: 'dev-1',
      workflow_id: 'wf-1',
      action: 'GateEvaluated',
      outcome: 'allow',
      elapsed_ms: 1.25,
      seq: expect.any(String),
    });
    expect(rows[0]!.event).toEqual(events[0]);
    // Offsets follow the rows: both groups commit what they have done, so a restart resumes there.
    await expect
      .poll(() => groupCaughtUp(ns, `${ns.groupPrefix}audit`, ns.topics.audit), { timeout: 20_000 })
      .toBe(true);
    await expect
      .poll(() => groupCaughtUp(ns, `${ns.groupPrefix}alerts`, ns.topics.audit), { timeout: 20_000 })
      .toBe(true);
  });

  it('keeps consuming when an event is invalid: it goes to the dlq with the reason', async () => {
    const producer = ns.kafka.producer();
    await producer.connect();
    await producer.send({
      topic: ns.topics.audit,
      messages: [
        { key: 'bad', value: JSON.stringify({ ...event('bad'), action: 'Nonsense' }) },
        { key: 'bad', value: 'not json' },
      ],
    });
    await producer.disconnect();
    const good = event('bad');
    await publish([good]);
    await eventually(async () => (await rowsOf('bad')) === 1, 'the valid event');
    const dlq = await wire.until(() => {
      const list = wire.seen.filter((m) => m.topic === ns.topics.dlq);
      return list.length >= 2 ? list : undefined;
    });
    expect(dlq.map((m) => m.headers['stepgate-dlq-detail'])).toEqual(
      expect.arrayContaining([expect.stringContaining('action'), 'the value is not JSON']),
    );
  });

  it('an event Postgres refuses (year 0000 has no partition) goes to the dlq with the reason; its batch neighbours are stored', async () => {
    const before = event('odd');
    const after = event('odd');
    await publish([before, event('odd', { timestamp: '0000-06-01T00:00:00Z' }), after]);
    await eventually(async () => (await rowsOf('odd')) === 2, 'the two storable events');
    const dlq = await wire.until(() =>
      wire.seen.find((m) => m.topic === ns.topics.dlq && m.headers['stepgate-dlq-detail']?.startsWith('not storable')),
    );
    expect(dlq.key).toBe('odd');
    expect((await cli('audit', 'verify', '--tenant', 'odd')).code).toBe(0);
  });

  it('keeps an event carrying NUL characters (Postgres cannot store them) with U+FFFD in their place', async () => {
    const e = event('nul', { inputs_summary: 'a\u0000b', workflow_id: 'wf\u0000' });
    await publish([e]);
    await eventually(async () => (await rowsOf('nul')) === 1, 'the event');
    const { rows } = await ns.pool.query<{ inputs_summary: string; workflow_id: string }>(
      "select inputs_summary, workflow_id from audit_log where tenant_id = 'nul'",
    );
    expect(rows[0]).toEqual({ inputs_summary: 'a\uFFFDb', workflow_id: 'wf\uFFFD' });
    expect((await cli('audit', 'verify', '--tenant', 'nul')).code).toBe(0);
  });

  it('Postgres unreachable for 30 s while events flow: afterwards every event is there exactly once', async () => {
    const sent: AuditEvent[] = [];
    const flow = (async () => {
      for (let i = 0; i < 40; i++) {
        const batch = Array.from({ length: 25 }, () => event('outage'));
        sent.push(...batch);
        await publish(batch);
        await new Promise((r) => setTimeout(r, 1_000)); // the scenario: events keep flowing, 25 a second
      }
    })();
    await eventually(async () => (await rowsOf('outage')) > 0, 'events stored before the outage');
    await relay.cut();
    await new Promise((r) => setTimeout(r, 30_000)); // the scenario: Postgres stays unreachable for 30 s
    const during = await rowsOf('outage');
    await relay.open();
    await flow;
    await eventually(async () => (await rowsOf('outage')) === sent.length, `all ${sent.length} events`, 90_000);
    expect(during).toBeLessThan(sent.length);
    const { rows } = await ns.pool.query<{ n: number; distinct_ids: number; max_seq: string }>(
      "select count(*)::int as n, count(distinct id)::int as distinct_ids, max(seq) as max_seq from audit_log where tenant_id = 'outage'",
    );
    expect(rows[0]).toEqual({ n: 1000, distinct_ids: 1000, max_seq: '1000' });
    expect((await cli('audit', 'verify', '--tenant', 'outage')).code).toBe(0);
  }, 150_000);

  it('verify finds a modified row: the event, or a column edited apart from the event', async () => {
    await publish(Array.from({ length: 30 }, (_, i) => event('chain', { step_id: `step-${i}` })));
    await eventually(async () => (await rowsOf('chain')) === 30, 'chain rows');
    const ok = await cli('audit', 'verify', '--tenant', 'chain');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('intact, 30 rows');

    await ns.pool.query(
      `update audit_log set event = jsonb_set(event, '{outcome}', '"block"') where tenant_id = 'chain' and seq = 17`,
    );
    const broken = await cli('audit', 'verify', '--tenant', 'chain');
    expect(broken.code).toBe(1);
    expect(broken.stdout).toContain('BROKEN at seq 17');
    expect(broken.stdout).toContain('hash_mismatch');

    await ns.pool.query(
      `update audit_log set event = jsonb_set(event, '{outcome}', '"allow"') where tenant_id = 'chain' and seq = 17`,
    );
    await ns.pool.query(`update audit_log set outcome = 'block' where tenant_id = 'chain' and seq = 9`);
    const column = await cli('audit', 'verify', '--tenant', 'chain');
    expect(column.stdout).toContain('BROKEN at seq 9');
    expect(column.stdout).toContain('columns_differ_from_event');

    await ns.pool.query(`update audit_log set outcome = 'allow' where tenant_id = 'chain' and seq = 9`);
    await ns.pool.query(`delete from audit_log where tenant_id = 'chain' and seq = 21`);
    const gap = await cli('audit', 'verify', '--tenant', 'chain');
    expect(gap.stdout).toContain('BROKEN at seq 22');
    expect(gap.stdout).toContain('sequence_gap');
  });

  it('exports parse back: CSV (quoting), JSON lines and CEF (escaping), with filters', async () => {
    const nasty = '{ sql: "DROP TABLE a; -- \\"x\\"", note: "a,b|c=d\\\\e\nline2" }';
    const events = [
      event('exp', {
        inputs_summary: nasty,
        workflow_id: 'wf-a',
        policies_matched: ['p1', 'p2'],
        decision: 'block',
        outcome: 'block',
      }),
      event('exp', { workflow_id: 'wf-b', action: 'StepCompleted', decision: null, outcome: 'Completed' }),
      event('exp', { workflow_id: 'wf-a', user_id: 'pipe|user' }),
    ];
    await publish(events);
    await eventually(async () => (await rowsOf('exp')) === 3, 'export rows');
    const dir = mkdtempSync(path.join(tmpdir(), 'stepgate-export-'));
    const file = (f: string) => path.join(dir, `audit.${f}`);
    for (const f of ['csv', 'jsonl', 'cef']) {
      const r = await cli('audit', 'export', '--tenant', 'exp', '--format', f, '--out', file(f));
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('exported 3 rows');
    }

    const csv = parseCsv<Record<string, string>>(readFileSync(file('csv'), 'utf8'), { columns: true });
    expect(Object.keys(csv[0]!)).toEqual([...CSV_COLUMNS]);
    expect(csv.map((r) => r.id)).toEqual(events.map((e) => e.id));
    expect(csv[0]!.inputs_summary).toBe(nasty);
    expect(csv[0]!.policies_matched).toBe('p1;p2');

    const jsonl = readFileSync(file('jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    expect(jsonl.map(({ id, inputs_summary, user_id }) => ({ id, inputs_summary, user_id }))).toEqual(
      events.map(({ id, inputs_summary, user_id }) => ({ id, inputs_summary, user_id })),
    );

    const cef = readFileSync(file('cef'), 'utf8').trim().split('\n').map(parseCef);
    expect(cef[0]!.header).toEqual([
      'CEF:0',
      'stepgate',
      'stepgate',
      '0.1',
      'GateEvaluated',
      'GateEvaluated block',
      '6',
    ]);
    expect(cef[0]!.extension).toMatchObject({
      externalId: events[0]!.id,
      msg: nasty,
      cs1: 'exp',
      cs2: 'wf-a',
      cs4: 'p1,p2',
      cs5: 'block',
    });
    expect(cef[2]!.extension.suser).toBe('pipe|user');

    const filtered = await cli(
      'audit',
      'export',
      '--tenant',
      'exp',
      '--format',
      'jsonl',
      '--workflow',
      'wf-a',
      '--action',
      'GateEvaluated',
      '--out',
      file('filtered'),
    );
    expect(filtered.code).toBe(0);
    expect(readFileSync(file('filtered'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect((await cli('audit', 'export', '--tenant', 'exp', '--format', 'xml')).code).toBe(2);
  });

  it('retention: the dry run lists old monthly partitions, --apply drops them, the floor is kept, and the chain still verifies', async () => {
    const old = [new Date('2024-01-15T10:00:00Z'), new Date('2024-02-10T10:00:00Z')];
    await publish([...old.map((t) => event('ret', { timestamp: t.toISOString() })), event('ret')]);
    await eventually(async () => (await rowsOf('ret')) === 3, 'retention rows');

    const dry = await cli('audit', 'retention', '--days', '365');
    expect(dry.code).toBe(0);
    expect(dry.stdout).toContain('would drop audit_log_y2024m01');
    expect(dry.stdout).toContain('would drop audit_log_y2024m02');
    expect(dry.stdout).toContain('dry run');
    expect(await rowsOf('ret')).toBe(3);

    const floor = await cli('audit', 'retention', '--days', '7', '--apply');
    expect(floor.code).toBe(2);
    expect(floor.stderr).toContain('below the retention floor');

    const applied = await cli('audit', 'retention', '--days', '365', '--apply');
    expect(applied.code).toBe(0);
    expect(await rowsOf('ret')).toBe(1);
    const verify = await cli('audit', 'verify', '--tenant', 'ret');
    expect(verify.code).toBe(0);
    expect(verify.stdout).toContain('older rows dropped by retention');
  });

  it('alerts: a block spike (per-tenant threshold), a background write burst, and a config change', async () => {
    const now = Date.now();
    const blocks = Array.from({ length: 6 }, (_, i) =>
      event('spiky', { decision: 'block', outcome: 'block', timestamp: new Date(now + i * 100).toISOString() }),
    );
    const writes = Array.from({ length: 10 }, (_, i) =>
      event('bursty', {
        agent_id: 'night-agent',
        timestamp: new Date(now + i * 100).toISOString(),
        detail: { execution_mode: 'background', tool_name: 'update_crm', tool_access: 'write' },
      }),
    );
    const change = event('bursty', {
      action: 'PolicyBundleApplied',
      outcome: 'Applied',
      decision: null,
      detail: { version: 3, actor: 'ops-lead' },
    });
    await publish([...blocks, ...writes, change]);
    const alerts = await wire.until(() => {
      const list = wire.json<Alert>(ns.topics.alerts);
      return list.some((a) => a.rule === 'block_spike') &&
        list.some((a) => a.rule === 'background_write_burst') &&
        list.some((a) => a.rule === 'config_change')
        ? list
        : undefined;
    }, 30_000);
    expect(alerts.filter((a) => a.rule === 'block_spike')).toEqual([
      expect.objectContaining({ tenant_id: 'spiky', count: 5, threshold: 5, window_seconds: 60 }),
    ]);
    expect(alerts.find((a) => a.rule === 'background_write_burst')).toMatchObject({
      tenant_id: 'bursty',
      agent_id: 'night-agent',
      count: 10,
      threshold: 10,
    });
    expect(alerts.find((a) => a.rule === 'config_change')).toMatchObject({
      tenant_id: 'bursty',
      message: expect.stringContaining('ops-lead'),
    });
    await eventually(async () => {
      const { rows } = await ns.pool.query<{ n: number }>(
        "select count(*)::int as n from audit_log where action = 'AlertRaised'",
      );
      return rows[0]!.n >= 3;
    }, 'alerts audited');
  });
  it('the approval backlog counts approvals already pending in the ledger when the alerts consumer (re)joins', async () => {
    await ns.pool.query(
      `insert into alert_thresholds (tenant_id, rule, threshold, window_seconds) values ('backlog', 'approval_backlog', 4, 60)`,
    );
    for (let i = 0; i < 3; i++)
      await ns.pool.query(
        `insert into step_ledger (tenant_id, workflow_id, step_id, input_fingerprint, decision, decision_body, approval_id, approval_status, first_attempt_at, last_attempt_at)
         values ('backlog', 'wf-b', $1, 'f', 'require_approval', '{}', $2, 'pending', now(), now())`,
        [`s-${i}`, randomUUID()],
      );
    // A consumer of its own group joins now, as after a restart: the three pending approvals happened
    // before it, so only the ledger can tell it about them.
    const raised = new Counter({
      name: 'backlog_test_alerts',
      help: 'x',
      labelNames: ['rule'],
      registers: [new Registry()],
    });
    const alerts = new AlertsConsumer(
      auditConfig(ns, { alertsGroupId: `${ns.groupPrefix}alerts-rejoined`, instanceId: `${ns.id}-rejoined` }),
      ns.pool,
      pino({ level: 'silent' }),
      raised,
    );
    await alerts.start();
    try {
      await publish([
        event('backlog', {
          action: 'ApprovalRequested',
          outcome: 'Requested',
          decision: 'require_approval',
          detail: { approval_id: randomUUID() },
        }),
      ]);
      const backlog = await wire.until(
        () =>
          wire.json<Alert>(ns.topics.alerts).find((a) => a.rule === 'approval_backlog' && a.tenant_id === 'backlog'),
        30_000,
      );
      expect(backlog).toMatchObject({ count: 4, threshold: 4 });
    } finally {
      await alerts.stop();
    }
  });

  it('a block spike straddling a restart of the service fires once, counting the blocks from before the restart', async () => {
    await ns.pool.query(
      `insert into alert_thresholds (tenant_id, rule, threshold, window_seconds) values ('straddle', 'block_spike', 6, 60)`,
    );
    const now = Date.now();
    const blocks = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) =>
        event('straddle', {
          decision: 'block',
          outcome: 'block',
          timestamp: new Date(now + (from + i) * 100).toISOString(),
        }),
      );
    const restart = async () => {
      // Everything so far is stored and behind both groups' committed offsets: the new instance sees it only in audit_log.
      await expect
        .poll(() => groupCaughtUp(ns, serviceConfig.groupId, ns.topics.audit), { timeout: 20_000 })
        .toBe(true);
      await expect
        .poll(() => groupCaughtUp(ns, serviceConfig.alertsGroupId, ns.topics.audit), { timeout: 20_000 })
        .toBe(true);
      await service.stop();
      service = new AuditService(serviceConfig);
      await service.start();
    };
    const spikes = () =>
      wire.json<Alert>(ns.topics.alerts).filter((a) => a.rule === 'block_spike' && a.tenant_id === 'straddle');

    const before = blocks(4, 0);
    await publish(before);
    await eventually(async () => (await rowsOf('straddle')) === 4, 'the first blocks stored');
    await restart();
    await publish(blocks(2, 4));
    const [spike] = await wire.until(() => (spikes().length ? spikes() : undefined), 30_000);
    expect(spike).toMatchObject({ count: 6, threshold: 6, window_seconds: 60 });
    expect(spike!.evidence.slice(0, 4)).toEqual(before.map((e) => e.id));

    // Restarted again within the window, it knows the spike has fired: one more block stays quiet.
    await eventually(
      async () =>
        (await ns.pool.query("select 1 from audit_log where tenant_id = 'straddle' and action = 'AlertRaised'"))
          .rowCount === 1,
      'the alert audited',
    );
    await restart();
    await publish([
      ...blocks(1, 6),
      event('straddle', { action: 'PolicyBundleApplied', outcome: 'Applied', decision: null, detail: { version: 9 } }),
    ]);
    await wire.until(
      () => wire.json<Alert>(ns.topics.alerts).find((a) => a.rule === 'config_change' && a.tenant_id === 'straddle'),
      30_000,
    );
    expect(spikes()).toHaveLength(1);
  });
});
