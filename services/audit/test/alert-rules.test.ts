import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '@stepgate/contracts';
import { AlertRules } from '../src/index.js';

const at = (ms: number, overrides: Partial<AuditEvent> = {}): AuditEvent => ({
  id: randomUUID(),
  timestamp: new Date(Date.UTC(2026, 0, 1) + ms).toISOString(),
  tenant_id: 'acme',
  agent_id: 'a1',
  session_id: null,
  user_id: null,
  workflow_id: 'wf',
  execution_id: null,
  step_id: 's',
  action: 'GateEvaluated',
  outcome: 'block',
  inputs_summary: '',
  elapsed_ms: 1,
  decision_id: null,
  decision: 'block',
  policies_matched: [],
  error_code: null,
  detail: {},
  ...overrides,
});

describe('alert rules (event time, sliding windows)', () => {
  const rules = () =>
    new AlertRules(
      (_, rule) =>
        ({
          block_spike: { threshold: 3, window_seconds: 10 },
          background_write_burst: { threshold: 2, window_seconds: 10 },
          approval_backlog: { threshold: 2, window_seconds: 10 },
        })[rule],
    );

  it('fires a block spike once per window, and not for blocks spread wider than the window', () => {
    const r = rules();
    const fired = [0, 1_000, 2_000, 3_000, 4_000].flatMap((t) => r.observe(at(t)));
    expect(fired.map((a) => [a.rule, a.count])).toEqual([['block_spike', 3]]);
    expect(r.observe(at(20_000))).toEqual([]);

    const spread = rules();
    expect([0, 6_000, 12_000, 18_000].flatMap((t) => spread.observe(at(t)))).toEqual([]);
  });

  describe('a batch whose alerts could not be published, rolled back and observed again', () => {
    const requested = (id: string, t = 2_500) =>
      at(t, { action: 'ApprovalRequested', decision: 'require_approval', detail: { approval_id: id } });
    /** What the batch raises the first time, and again after a rollback (a failed publication). */
    function twice(batch: AuditEvent[], prepare: (r: AlertRules) => void = () => undefined) {
      const r = rules();
      prepare(r);
      r.checkpoint();
      const first = batch.flatMap((e) => r.observe(e));
      r.rollback();
      r.checkpoint();
      const again = batch.flatMap((e) => r.observe(e));
      r.commit();
      const summary = (alerts: typeof first) => alerts.map((a) => [a.rule, a.count, a.raised_at]);
      return { first: summary(first), again: summary(again), rules: r };
    }

    it('raises the same alerts again (they stayed quiet for good without it), its events counted once', () => {
      const {
        first,
        again,
        rules: r,
      } = twice([...[0, 1_000, 2_000].map((t) => at(t)), requested('1'), requested('2')]);
      expect(first.map(([rule]) => rule)).toEqual(['block_spike', 'approval_backlog']);
      expect(again).toEqual(first);
      expect(r.observe(at(3_000))).toEqual([]); // quiet: the spike was raised (and published) once
    });

    it('a batch spanning more than a window raises what it raised the first time, no more', () => {
      expect(twice([0, 1_000, 20_000, 21_000].map((t) => at(t)))).toMatchObject({ first: [], again: [] });
      const { first, again } = twice([0, 1_000, 20_000, 21_000, 22_000].map((t) => at(t)));
      expect(first).toHaveLength(1);
      expect(again).toEqual(first);
    });

    it('the approval backlog starts from where it was', () => {
      const batch = [
        requested('a'),
        at(2_600, { action: 'ApprovalGranted', detail: { approval_id: 'a' } }),
        requested('b', 2_700),
      ];
      expect(twice(batch)).toMatchObject({ first: [], again: [] });
    });

    it('a commit keeps what the batch did', () => {
      const r = rules();
      r.checkpoint();
      [0, 1_000, 2_000].forEach((t) => r.observe(at(t)));
      r.commit();
      r.rollback(); // nothing open: no effect
      expect(r.observe(at(3_000))).toEqual([]);
    });
  });

  it('counts background writes per agent, not reads or interactive writes', () => {
    const r = rules();
    const write = (agent: string, mode = 'background', access = 'write') =>
      at(0, { decision: 'allow', agent_id: agent, detail: { execution_mode: mode, tool_access: access } });
    expect(
      [write('a'), write('b'), write('a', 'interactive'), write('a', 'background', 'read')].flatMap((e) =>
        r.observe(e),
      ),
    ).toEqual([]);
    expect(r.observe(write('a')).map((a) => [a.rule, a.agent_id])).toEqual([['background_write_burst', 'a']]);
  });

  it('tracks the approval backlog as requests minus resolutions', () => {
    const r = rules();
    const req = (id: string) =>
      at(0, { action: 'ApprovalRequested', decision: 'require_approval', detail: { approval_id: id } });
    expect(r.observe(req('1'))).toEqual([]);
    expect(r.observe(at(0, { action: 'ApprovalGranted', detail: { approval_id: '1' } }))).toEqual([]);
    expect(r.observe(req('2'))).toEqual([]);
    expect(r.observe(req('3')).map((a) => [a.rule, a.count])).toEqual([['approval_backlog', 2]]);
  });

  it("counts the backlog from the ledger's pending approvals it was given, after a restart", () => {
    const r = rules();
    r.resetPendingApprovals([
      { tenant_id: 'acme', approval_id: 'old-1' },
      { tenant_id: 'other', approval_id: 'x' },
    ]);
    const req = (id: string) =>
      at(0, { action: 'ApprovalRequested', decision: 'require_approval', detail: { approval_id: id } });
    expect(r.observe(req('new-1')).map((a) => [a.rule, a.count])).toEqual([['approval_backlog', 2]]);
    // Replaced, not added to: a second reset (a rebalance) forgets what the first one said.
    r.resetPendingApprovals([]);
    expect(r.observe(at(0, { action: 'ApprovalGranted', detail: { approval_id: 'new-1' } }))).toEqual([]);
    expect(
      r.observe(
        at(20_000, { action: 'ApprovalRequested', decision: 'require_approval', detail: { approval_id: 'new-2' } }),
      ),
    ).toEqual([]);
  });

  it('restores its windows from stored events: a spike straddling a restart fires, a redelivered event counts once', () => {
    const r = rules();
    const before = [at(0), at(1_000)];
    r.restoreWindows(before, []);
    expect(r.observe(before[1]!)).toEqual([]); // delivered again after the restart: still two
    const fired = r.observe(at(2_000));
    expect(fired.map((a) => [a.rule, a.count])).toEqual([['block_spike', 3]]);
    expect(fired[0]!.evidence).toEqual([...before.map((e) => e.id), expect.any(String)]);

    const writes = rules();
    writes.restoreWindows(
      [
        at(0, {
          decision: 'allow',
          agent_id: null,
          detail: { execution_mode: 'background', tool_access: 'destructive' },
        }),
      ],
      [],
    );
    expect(
      writes
        .observe(
          at(500, {
            decision: 'allow',
            agent_id: null,
            detail: { execution_mode: 'background', tool_access: 'write' },
          }),
        )
        .map((a) => [a.rule, a.count]),
    ).toEqual([['background_write_burst', 2]]);
  });

  it('stays quiet after a restart for a window that already fired, by tenant and agent', () => {
    const r = rules();
    const raisedAt = new Date(Date.UTC(2026, 0, 1) + 2_000).toISOString();
    r.restoreWindows(
      [at(0), at(1_000), at(2_000)],
      [
        { tenant_id: 'acme', rule: 'block_spike', agent_id: null, raised_at: raisedAt, window_seconds: 10 },
        { tenant_id: 'acme', rule: 'background_write_burst', agent_id: null, raised_at: raisedAt, window_seconds: 10 },
      ],
    );
    expect([3_000, 4_000].flatMap((t) => r.observe(at(t)))).toEqual([]);
    const bgWrite = (t: number, agent: string | null) =>
      at(t, { decision: 'allow', agent_id: agent, detail: { execution_mode: 'background', tool_access: 'write' } });
    expect([bgWrite(3_000, null), bgWrite(3_100, null)].flatMap((e) => r.observe(e))).toEqual([]);
    expect(
      [bgWrite(3_000, 'other'), bgWrite(3_100, 'other')].flatMap((e) => r.observe(e)).map((a) => a.agent_id),
    ).toEqual(['other']);
    // Quiet for one window from the alert, then the next spike fires.
    expect([13_000, 13_500, 14_000].flatMap((t) => r.observe(at(t))).map((a) => [a.rule, a.count])).toEqual([
      ['block_spike', 3],
    ]);
  });

  it('alerts on every bundle and credential change', () => {
    const r = rules();
    expect(r.observe(at(0, { action: 'CredentialRevoked', decision: null, detail: { key_id: 'k1' } }))).toMatchObject([
      { rule: 'config_change', severity: 'medium', message: 'CredentialRevoked: k1' },
    ]);
    expect(
      r.observe(
        at(0, {
          action: 'AlertThresholdChanged',
          decision: null,
          detail: { rule: 'block_spike', threshold: 50, window_seconds: 120, actor: 'ops-lead' },
        }),
      ),
    ).toMatchObject([
      { rule: 'config_change', severity: 'low', message: 'AlertThresholdChanged: block_spike 50 in 120 s, ops-lead' },
    ]);
    expect(
      r.observe(
        at(0, {
          action: 'AlertThresholdChanged',
          decision: null,
          detail: { rule: 'block_spike', threshold: null, window_seconds: null },
        }),
      )[0]!.message,
    ).toBe('AlertThresholdChanged: block_spike back to the default');
    expect(
      r.observe(
        at(0, {
          action: 'TenantSettingsChanged',
          decision: null,
          detail: { approval_timeout_seconds: 60, actor: 'ops-lead' },
        }),
      ),
    ).toMatchObject([{ rule: 'config_change', message: 'TenantSettingsChanged: ops-lead' }]);
  });
});
