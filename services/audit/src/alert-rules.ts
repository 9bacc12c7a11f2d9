import { randomUUID } from 'node:crypto';
import { CONFIG_CHANGE_ACTIONS, type Alert, type AlertRule, type AuditEvent } from '@stepgate/contracts';

export type WindowedRule = Exclude<AlertRule, 'config_change'>;

export interface Threshold {
  threshold: number;
  window_seconds: number;
}

/** Defaults when a tenant has no row in `alert_thresholds`. */
export const DEFAULT_THRESHOLDS: Record<WindowedRule, Threshold> = {
  block_spike: { threshold: 20, window_seconds: 60 },
  background_write_burst: { threshold: 10, window_seconds: 60 },
  approval_backlog: { threshold: 25, window_seconds: 300 },
};

const RESOLVED_APPROVAL = new Set<AuditEvent['action']>(['ApprovalGranted', 'ApprovalRejected', 'ApprovalExpired']);

/** What the windowed rules read of an audit event: enough to restore their windows from `audit_log`. */
export type WindowedEvent = Pick<
  AuditEvent,
  'id' | 'timestamp' | 'tenant_id' | 'agent_id' | 'action' | 'decision' | 'detail'
>;

/** A rule's window and quiet period per tenant, and per agent for write bursts. */
function ruleKey(rule: AlertRule, tenant: string, agent: string | null): string {
  return `${rule}:${tenant}:${agent ?? ''}`;
}

/** Write bursts are counted per agent; events without one share a bucket. */
function burstAgent(agentId: string | null): string {
  return agentId ?? '(no agent)';
}

/** The windows an event counts in: blocks per tenant, background writes per tenant and agent. */
function windowsOf(e: WindowedEvent): Array<{ rule: 'block_spike' | 'background_write_burst'; agent: string | null }> {
  if (e.action !== 'GateEvaluated') return [];
  const out: Array<{ rule: 'block_spike' | 'background_write_burst'; agent: string | null }> = [];
  if (e.decision === 'block') out.push({ rule: 'block_spike', agent: null });
  if (
    e.detail.execution_mode === 'background' &&
    (e.detail.tool_access === 'write' || e.detail.tool_access === 'destructive')
  )
    out.push({ rule: 'background_write_burst', agent: burstAgent(e.agent_id) });
  return out;
}

/**
 * The alert rules of reference 001/000, evaluated over the audit stream in event time. Windows are
 * sliding; a rule that fired stays quiet for one window per tenant (and agent), so a spike is one alert.
 */
export class AlertRules {
  private readonly windows = new Map<string, SlidingWindow>();
  private readonly quietUntil = new Map<string, number>();
  private readonly pendingApprovals = new Map<string, Set<string>>();
  /** While a checkpoint is open: each key's state before its first change since (undefined: none then). */
  private saved:
    | {
        windows: Map<string, SlidingWindow | undefined>;
        pending: Map<string, Set<string> | undefined>;
        quiet: Map<string, number>;
      }
    | undefined;

  constructor(
    private readonly thresholds: (tenant: string, rule: WindowedRule) => Threshold = (_, rule) =>
      DEFAULT_THRESHOLDS[rule],
  ) {}

  /**
   * Replaces the pending approvals with the ledger's: the backlog then survives a restart or a
   * rebalance (events replayed from the committed offset move it the same way again).
   */
  resetPendingApprovals(pending: Iterable<{ tenant_id: string; approval_id: string }>): void {
    this.pendingApprovals.clear();
    for (const { tenant_id, approval_id } of pending) {
      const set = this.pendingApprovals.get(tenant_id) ?? new Set<string>();
      this.pendingApprovals.set(tenant_id, set.add(approval_id));
    }
  }

  /**
   * Replaces the windows with recent events and alerts read back from `audit_log`, so that a spike
   * straddling a restart or a rebalance still fires, and one that already fired stays quiet. Events
   * the stream then delivers again count once (windows keep event ids).
   */
  restoreWindows(
    recent: Iterable<WindowedEvent>,
    raised: Iterable<Pick<Alert, 'tenant_id' | 'rule' | 'agent_id' | 'raised_at' | 'window_seconds'>>,
  ): void {
    this.windows.clear();
    this.quietUntil.clear();
    for (const e of recent) {
      if (!e.tenant_id) continue;
      for (const { rule, agent } of windowsOf(e))
        this.windowOf(e.tenant_id, rule, agent).add(
          Date.parse(e.timestamp),
          e.id,
          this.thresholds(e.tenant_id, rule).window_seconds * 1000,
        );
    }
    for (const a of raised) {
      const key = ruleKey(a.rule, a.tenant_id, a.rule === 'background_write_burst' ? burstAgent(a.agent_id) : null);
      this.quietUntil.set(
        key,
        Math.max(this.quietUntil.get(key) ?? -Infinity, Date.parse(a.raised_at) + a.window_seconds * 1000),
      );
    }
  }

  /**
   * Opens a checkpoint: `rollback` then puts the rules back as they are now, undoing what `observe`
   * changed since (a batch whose alerts could not be published is observed again when it is fetched
   * again, from the same state, so it raises the same alerts). `commit` closes it. Only the keys a
   * batch touches are copied.
   */
  checkpoint(): void {
    this.saved = { windows: new Map(), pending: new Map(), quiet: new Map(this.quietUntil) };
  }

  commit(): void {
    this.saved = undefined;
  }

  rollback(): void {
    const saved = this.saved;
    if (!saved) return;
    this.saved = undefined;
    for (const [key, w] of saved.windows)
      if (w) this.windows.set(key, w);
      else this.windows.delete(key);
    for (const [tenant, p] of saved.pending)
      if (p) this.pendingApprovals.set(tenant, p);
      else this.pendingApprovals.delete(tenant);
    this.quietUntil.clear();
    for (const [key, until] of saved.quiet) this.quietUntil.set(key, until);
  }

  observe(e: AuditEvent): Alert[] {
    const tenant = e.tenant_id;
    if (!tenant) return [];
    const t = Date.parse(e.timestamp);
    const out: Alert[] = [];
    if (CONFIG_CHANGE_ACTIONS.has(e.action)) {
      out.push(
        newAlert({
          tenant_id: tenant,
          rule: 'config_change',
          severity: e.action === 'CredentialRevoked' ? 'medium' : 'low',
          message: `${e.action}: ${describe(e)}`,
          agent_id: null,
          count: 1,
          threshold: 0,
          window_seconds: 0,
          evidence: [e.id],
          raised_at: e.timestamp,
        }),
      );
    }
    for (const { rule, agent } of windowsOf(e)) {
      const fired = this.window(tenant, rule, agent, t, e.id);
      if (!fired) continue;
      out.push(
        newAlert({
          tenant_id: tenant,
          rule,
          severity: 'high',
          message:
            rule === 'block_spike'
              ? `${fired.count} blocked steps in ${fired.window_seconds} s`
              : `${fired.count} background write tool calls by agent ${agent} in ${fired.window_seconds} s`,
          agent_id: rule === 'block_spike' ? null : e.agent_id,
          count: fired.count,
          threshold: fired.threshold,
          window_seconds: fired.window_seconds,
          evidence: fired.evidence,
          raised_at: e.timestamp,
        }),
      );
    }
    const approvalId = typeof e.detail.approval_id === 'string' ? e.detail.approval_id : undefined;
    if (approvalId && (e.action === 'ApprovalRequested' || RESOLVED_APPROVAL.has(e.action))) {
      if (this.saved && !this.saved.pending.has(tenant)) {
        const before = this.pendingApprovals.get(tenant);
        this.saved.pending.set(tenant, before && new Set(before));
      }
      const pending = this.pendingApprovals.get(tenant) ?? new Set<string>();
      this.pendingApprovals.set(tenant, pending);
      if (e.action === 'ApprovalRequested') pending.add(approvalId);
      else pending.delete(approvalId);
      const { threshold, window_seconds } = this.thresholds(tenant, 'approval_backlog');
      const key = ruleKey('approval_backlog', tenant, null);
      if (
        e.action === 'ApprovalRequested' &&
        pending.size >= threshold &&
        t >= (this.quietUntil.get(key) ?? -Infinity)
      ) {
        this.quietUntil.set(key, t + window_seconds * 1000);
        out.push(
          newAlert({
            tenant_id: tenant,
            rule: 'approval_backlog',
            severity: 'medium',
            message: `${pending.size} approvals are pending`,
            agent_id: null,
            count: pending.size,
            threshold,
            window_seconds,
            evidence: [...pending].slice(-20),
            raised_at: e.timestamp,
          }),
        );
      }
    }
    return out;
  }

  private windowOf(tenant: string, rule: WindowedRule, agent: string | null): SlidingWindow {
    const key = ruleKey(rule, tenant, agent);
    let w = this.windows.get(key);
    if (!w) this.windows.set(key, (w = new SlidingWindow()));
    return w;
  }

  private window(tenant: string, rule: WindowedRule, agent: string | null, t: number, id: string) {
    const { threshold, window_seconds } = this.thresholds(tenant, rule);
    const key = ruleKey(rule, tenant, agent);
    if (this.saved && !this.saved.windows.has(key)) this.saved.windows.set(key, this.windows.get(key)?.copy());
    const w = this.windowOf(tenant, rule, agent);
    const count = w.add(t, id, window_seconds * 1000);
    if (count < threshold || t < (this.quietUntil.get(key) ?? -Infinity)) return undefined;
    this.quietUntil.set(key, t + window_seconds * 1000);
    return { count, threshold, window_seconds, evidence: w.last(20) };
  }
}

function newAlert(fields: Omit<Alert, 'alert_id'>): Alert {
  return { alert_id: randomUUID(), ...fields };
}

function describe(e: AuditEvent): string {
  const d = e.detail;
  const version = typeof d.version === 'number' ? `version ${d.version}` : undefined;
  const threshold =
    typeof d.rule === 'string'
      ? `${d.rule} ${typeof d.threshold === 'number' ? `${d.threshold} in ${String(d.window_seconds)} s` : 'back to the default'}`
      : undefined;
  const parts = [d.principal, d.key_id, version, threshold, d.actor].filter((x): x is string => typeof x === 'string');
  return parts.length ? parts.join(', ') : e.outcome;
}

/** Event times within the last `span` ms (events arrive roughly in time order; late ones count too), each event id once. */
class SlidingWindow {
  private items: Array<{ t: number; id: string }> = [];
  private start = 0;
  private readonly ids = new Set<string>();

  add(t: number, id: string, span: number): number {
    const newest = Math.max(t, this.items.at(-1)?.t ?? t);
    if (!this.ids.has(id)) {
      this.items.push({ t, id });
      this.ids.add(id);
    }
    while (this.start < this.items.length && this.items[this.start]!.t <= newest - span)
      this.ids.delete(this.items[this.start++]!.id);
    if (this.start > 1024 && this.start * 2 > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return this.items.length - this.start;
  }

  copy(): SlidingWindow {
    const copy = new SlidingWindow();
    copy.items = this.items.slice(this.start);
    for (const { id } of copy.items) copy.ids.add(id);
    return copy;
  }

  last(n: number): string[] {
    return this.items.slice(Math.max(this.start, this.items.length - n)).map((x) => x.id);
  }
}
