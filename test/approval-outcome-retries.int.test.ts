// The approval activities retried as Temporal retries them (the same input again), on the real stack
// (evaluator, Kafka, Postgres; no approvals service: the test runs the activities itself). The outcome
// is recorded once: a retry of its publication or of recordOutcome answers as the first attempt did,
// whatever happened to the kill switches or the step in between.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '@temporalio/client';
import type { ApprovalOutcomeSignal, ApprovalRequest, AuditEvent, GateDecision } from '@stepgate/contracts';
import { privateKeyFromPem } from '@stepgate/contracts/node';
import { createActivities, unavailableOutcome, unavailableOutcomeIds, type OutcomeInput } from '@stepgate/approvals';
import type { GateStepRequest } from '@stepgate/client';
import { KafkaConnection, type MessageProducer, type OutgoingMessage } from '@stepgate/messaging';
import { KillSwitchesRepository, type KillSwitch } from '@stepgate/store';
import { testNamespace } from '@stepgate/test';
import {
  approvalPolicy,
  blockPolicy,
  dailyRateLimitPolicy,
  openApprovalsFixture,
  openBundle,
  type ApprovalsFixture,
} from './approvals-fixture.js';

const ns = testNamespace('approval_outcome_retries');
const TENANT = 'acme';
const REPLY_TO: ApprovalRequest['reply_to'] = {
  temporal_workflow_id: 'orchestrator-1',
  temporal_namespace: 'default',
  signal_name: 'stepgate.decision',
};

let stack: ApprovalsFixture<never>;
let kafka: MessageProducer;

beforeAll(async () => {
  stack = await openApprovalsFixture(ns, {
    tenant: TENANT,
    approvers: {},
    bundles: [
      openBundle(TENANT, [
        dailyRateLimitPolicy('deploy-rate', 'deploy'),
        approvalPolicy('approve-deploys', 'deploy', { reason: 'Deploys need a human', severity: 'high' }),
        blockPolicy('no-wipes', 'wipe', 'Wipes are forbidden'),
      ]),
    ],
    service: false,
    tap: ['gate.decisions', 'approvals', 'audit'],
  });
  kafka = await new KafkaConnection({ clientId: `${ns.id}-activities`, brokers: ns.endpoints.kafkaBrokers }).producer();
});

afterAll(async () => {
  await kafka?.disconnect();
  await stack?.close();
});

/** The broker took the messages but its answer was lost, once: the publishing activity fails and is retried. */
class AckLost extends Error {}

/** Publishes for real; the first publication of a decision then fails as if its acknowledgement was lost. */
function ackLostOnce(): MessageProducer {
  let failed = false;
  return {
    async publish(messages: readonly OutgoingMessage[]) {
      await kafka.publish(messages);
      if (!failed && messages.some((m) => m.topic === ns.topics['gate.decisions'])) {
        failed = true;
        throw new AckLost('the broker did not answer');
      }
    },
  } as unknown as MessageProducer;
}

/** The approval activities as the approvals service runs them; orchestrators' signals are collected. */
function activities(producer: MessageProducer) {
  const signals: ApprovalOutcomeSignal[] = [];
  const orchestrators = {
    workflow: {
      getHandle: () => ({
        signal: async (_name: string, signal: ApprovalOutcomeSignal) => void signals.push(signal),
        cancel: async () => undefined,
      }),
    },
  } as unknown as Client;
  const acts = createActivities({
    pool: ns.pool,
    producer,
    topics: ns.topics,
    decisionTopic: () => ns.topics['gate.decisions'],
    signer: { keyId: stack.evaluatorKey.keyId, key: privateKeyFromPem(stack.evaluatorKey.privateKeyPem) },
    temporalClient: () => orchestrators,
  });
  return { acts, signals };
}

/** A deploy of a fresh workflow by its own agent and user, gated (require_approval), with the approval request it published. */
async function pendingDeploy(): Promise<{ step: GateStepRequest; request: ApprovalRequest }> {
  const step: GateStepRequest = {
    workflow_id: `wf-${randomUUID()}`,
    step_id: 'deploy-prod',
    step_name: 'deploy',
    step_type: 'tool_call',
    agent_id: `agent-${randomUUID()}`,
    user_id: `user-${randomUUID()}`,
    tool_context: { tool_name: 'deploy', tool_input: { env: 'prod' } },
  };
  const asked = await stack.gate.gate(step);
  expect(asked.decision).toBe('require_approval');
  const request = await stack.wire.until(() =>
    stack.wire.json<ApprovalRequest>(ns.topics.approvals).find((a) => a.decision_id === asked.decision_id),
  );
  return { step, request };
}

/** An approval of the request as the workflow hands it to the activities (ids minted once). */
function approvedBy(request: ApprovalRequest, approver: string): OutcomeInput {
  return {
    request: { ...request, reply_to: REPLY_TO },
    status: 'approved',
    decided_by: approver,
    decided_at: new Date().toISOString(),
    comment: 'Change ticket CHG-42 reviewed',
    evidence: null,
    action_digest: request.action_digest ?? null,
    decision_id: randomUUID(),
    audit_event_id: randomUUID(),
    abort_event_id: randomUUID(),
    abort_audit_event_id: randomUUID(),
  };
}

const switches = () => new KillSwitchesRepository(ns.pool);
const engageFor = (agentId: string): Promise<KillSwitch> =>
  switches().engage({
    tenantId: TENANT,
    scope: { agent_id: agentId, workflow_id: null, tool_name: null },
    reason: 'agent loops on deploys',
    engagedBy: 'sre-on-call',
  });
const release = (s: KillSwitch) => switches().release({ tenantId: TENANT, switchId: s.switch_id, releasedBy: 'test' });

/** The approval's decisions on gate.decisions, once `count` are there. */
const published = (approvalId: string, count: number) =>
  stack.wire.until(() => {
    const list = stack.wire
      .json<GateDecision>(ns.topics['gate.decisions'])
      .filter((d) => d.approval_id === approvalId && d.decision_source === 'approval');
    return list.length >= count ? list : undefined;
  });

const auditedOutcomes = (approvalId: string) =>
  stack.wire
    .json<AuditEvent>(ns.topics.audit)
    .filter((a) => a.detail.approval_id === approvalId && a.action === 'ApprovalGranted');

/** The step gated again with the same request (an idempotent retry): its error code, or its decision. */
async function retryAtGate(step: GateStepRequest): Promise<string> {
  const d = await stack.gate.gate({ ...step, retry_policy: 'idempotent' });
  return d.error?.code ?? d.decision;
}

describe('approval outcomes retried (real Kafka and Postgres, the evaluator gating)', () => {
  it('a kill switch engaged between a failed publishOutcome and its retry changes nothing: the same allow is published, and signalled', async () => {
    const { request } = await pendingDeploy();
    const outcome = approvedBy(request, 'alice');
    const { acts, signals } = activities(ackLostOnce());
    const recorded = await acts.recordOutcome(outcome);
    expect(recorded).toMatchObject({ applied: true, kill_switch: null });
    if (!recorded.applied) throw new Error('unreachable');
    const publication = { outcome, decision: recorded.decision, kill_switch: recorded.kill_switch };

    await expect(acts.publishOutcome(publication)).rejects.toBeInstanceOf(AckLost);
    const engaged = await engageFor(request.requested_by.agent_id!);
    try {
      await acts.publishOutcome(publication);
      await acts.notifyOrchestrator({ outcome, cancel: false, kill_switch: recorded.kill_switch });
    } finally {
      await release(engaged);
    }

    // Both attempts reached the broker: the same signed decision twice, never a second verdict.
    const [first, second] = await published(request.approval_id, 2);
    expect(first).toMatchObject({ decision_id: outcome.decision_id, decision: 'allow', approval_status: 'approved' });
    expect(first).not.toHaveProperty('error');
    expect(second).toEqual(first);
    await stack.wire.until(() => (auditedOutcomes(request.approval_id).length >= 2 ? true : undefined));
    for (const event of auditedOutcomes(request.approval_id)) expect(event.detail).not.toHaveProperty('kill_switch');
    expect(signals).toEqual([expect.objectContaining({ decision: first!.decision, reason: first!.reason })]);
  });

  it('a kill switch released between a failed publishOutcome and its retry changes nothing: the same KILL_SWITCH block is published, and signalled; the gate blocks the step until the release', async () => {
    const { step, request } = await pendingDeploy();
    const outcome = approvedBy(request, 'alice');
    const { acts, signals } = activities(ackLostOnce());
    const engaged = await engageFor(request.requested_by.agent_id!);
    let released = false;
    try {
      const recorded = await acts.recordOutcome(outcome);
      expect(recorded).toMatchObject({ applied: true, kill_switch: { switch_id: engaged.switch_id } });
      if (!recorded.applied) throw new Error('unreachable');
      const publication = { outcome, decision: recorded.decision, kill_switch: recorded.kill_switch };
      await expect(acts.publishOutcome(publication)).rejects.toBeInstanceOf(AckLost);

      // Recorded as approved, the step still takes no allow while the switch covers it: the gate checks
      // the switches before the ledger (the evaluator reads them again within 5 s).
      await expect.poll(() => retryAtGate(step), { timeout: 15_000 }).toBe('KILL_SWITCH');

      await release(engaged);
      released = true;
      await acts.publishOutcome(publication);
      await acts.notifyOrchestrator({ outcome, cancel: false, kill_switch: recorded.kill_switch });
    } finally {
      if (!released) await release(engaged);
    }

    const [first, second] = await published(request.approval_id, 2);
    expect(first).toMatchObject({
      decision_id: outcome.decision_id,
      decision: 'block',
      approval_status: 'approved',
      error: { code: 'KILL_SWITCH' },
    });
    expect(second).toEqual(first);
    await stack.wire.until(() => (auditedOutcomes(request.approval_id).length >= 2 ? true : undefined));
    for (const event of auditedOutcomes(request.approval_id)) expect(event.detail.kill_switch).toBe(engaged.switch_id);
    expect(signals).toEqual([expect.objectContaining({ decision: 'block', reason: first!.reason })]);
    // Released, the human's approval stands.
    await expect.poll(() => retryAtGate(step), { timeout: 15_000 }).toBe('allow');
  });

  it('a recordOutcome retried after its commit answers as the first attempt: applied, with its verdict, though the step was decided again and the switch released in between', async () => {
    const { step, request } = await pendingDeploy();
    expect(request.usage_increments).not.toEqual([]);
    // The step's user is the test's own: its rate-limit counter counts this approval only.
    const usage = async () =>
      (
        await ns.pool.query<{ value: string }>(
          'select value from usage_counters where tenant_id = $1 and key = any($2) order by key',
          [TENANT, request.usage_increments.map((i) => i.key)],
        )
      ).rows.map((r) => Number(r.value));
    const outcome = approvedBy(request, 'bob');
    const { acts } = activities(kafka);

    const engaged = await engageFor(request.requested_by.agent_id!);
    const first = await acts.recordOutcome(outcome).finally(() => release(engaged));
    expect(first).toMatchObject({
      applied: true,
      decision: { decision_id: outcome.decision_id, decision: 'allow', approval_status: 'approved' },
      kill_switch: { switch_id: engaged.switch_id },
    });
    // The answer was lost; meanwhile the step is gated again and blocked (its decision is another now).
    const again = await stack.gate.gate({ ...step, step_name: 'wipe', retry_policy: 'reevaluate' });
    expect(again).toMatchObject({ decision: 'block', policies_matched: [{ policy_name: 'no-wipes' }] });

    expect(await acts.recordOutcome(outcome)).toEqual(first);
    expect(await usage()).toEqual(request.usage_increments.map((i) => i.by));
    expect(
      stack.wire
        .json<AuditEvent>(ns.topics.audit)
        .filter((a) => a.detail.approval_id === request.approval_id && a.outcome === 'Superseded'),
    ).toEqual([]);
  });

  it('an approval that could not be started blocks its step once; an outcome of a run that started after all (the start answer lost) then decides nothing, and one recorded first makes the block apply to nothing', async () => {
    const { step, request } = await pendingDeploy();
    const { acts, signals } = activities(kafka);
    const ids = unavailableOutcomeIds(request);
    const blockedAt = new Date().toISOString();
    const block = unavailableOutcome({ ...request, reply_to: REPLY_TO }, blockedAt);
    const recorded = await acts.recordOutcome(block);
    expect(recorded).toMatchObject({
      applied: true,
      kill_switch: null,
      decision: {
        decision_id: ids.decision_id,
        decision: 'block',
        approval_status: 'expired',
        error: { code: 'APPROVAL_UNAVAILABLE' },
      },
    });
    // Retried (its answer lost), and delivered again later at another time: the first record answers.
    expect(await acts.recordOutcome(block)).toEqual(recorded);
    expect(
      await acts.recordOutcome(unavailableOutcome(block.request, new Date(Date.now() + 5_000).toISOString())),
    ).toEqual(recorded);
    if (!recorded.applied) throw new Error('unreachable');
    await acts.publishOutcome({ outcome: block, decision: recorded.decision, kill_switch: recorded.kill_switch });
    await acts.notifyOrchestrator({ outcome: block, cancel: false, kill_switch: recorded.kill_switch });
    expect(signals).toEqual([
      expect.objectContaining({ decision: 'block', approval_status: 'expired', reason: recorded.decision.reason }),
    ]);

    // The run that started after all is approved, or expires: neither applies, both are audited as
    // superseded by the block, and nothing is published for them.
    for (const outcome of [
      approvedBy(request, 'alice'),
      { ...approvedBy(request, 'alice'), status: 'expired' as const },
    ])
      expect(await acts.recordOutcome(outcome)).toEqual({ applied: false, superseded_by_decision_id: ids.decision_id });
    const superseded = () =>
      stack.wire
        .json<AuditEvent>(ns.topics.audit)
        .filter((a) => a.detail.approval_id === request.approval_id && a.outcome === 'Superseded');
    await stack.wire.until(() => (superseded().length === 2 ? true : undefined));
    for (const a of superseded()) expect(a.detail.superseded_by_decision_id).toBe(ids.decision_id);
    const decisions = await published(request.approval_id, 1);
    expect(decisions).toEqual([expect.objectContaining({ decision_id: ids.decision_id, decision: 'block' })]);
    expect(await retryAtGate(step)).toBe('WORKFLOW_TERMINAL');

    // The other order: a run's approval recorded first, the block of the same request comes too late.
    const other = await pendingDeploy();
    const approval = approvedBy(other.request, 'bob');
    expect(await acts.recordOutcome(approval)).toMatchObject({ applied: true, decision: { decision: 'allow' } });
    expect(await acts.recordOutcome(unavailableOutcome(other.request, new Date().toISOString()))).toEqual({
      applied: false,
      superseded_by_decision_id: null,
    });
    const late = await stack.wire.until(() =>
      stack.wire
        .json<AuditEvent>(ns.topics.audit)
        .find((a) => a.detail.approval_id === other.request.approval_id && a.outcome === 'Superseded'),
    );
    expect(late).toMatchObject({
      action: 'ApprovalExpired',
      error_code: 'APPROVAL_UNAVAILABLE',
      detail: { dlq_reason: 'APPROVAL_START_REFUSED' },
    });
    expect(await acts.recordOutcome(approval)).toMatchObject({ applied: true, decision: { decision: 'allow' } });
    expect(await retryAtGate(other.step)).toBe('allow');
  });

  it('an outcome of another run of the same approval and decision (started again while the first closed) finds the step resolved: it decides nothing, whatever it says, and names the outcome that did; only an attempt of the first outcome itself applies, one from before outcomes were recorded included', async () => {
    const { step, request } = await pendingDeploy();
    const { acts } = activities(kafka);
    const rejected: OutcomeInput = {
      ...approvedBy(request, 'bob'),
      status: 'rejected',
      comment: 'Not during the freeze',
    };
    const first = await acts.recordOutcome(rejected);
    expect(first).toMatchObject({ applied: true, decision: { decision: 'block', approval_status: 'rejected' } });

    // The second run's approval, its expiry, and a rejection by the same approver later: none applies.
    const approved = approvedBy(request, 'alice');
    const expiredToo: OutcomeInput = { ...approvedBy(request, 'alice'), status: 'expired', decided_by: null };
    const rejectedAgain: OutcomeInput = {
      ...rejected,
      decision_id: randomUUID(),
      audit_event_id: randomUUID(),
      decided_at: new Date(Date.now() + 1_000).toISOString(),
    };
    for (const outcome of [approved, expiredToo, rejectedAgain])
      expect(await acts.recordOutcome(outcome)).toEqual({
        applied: false,
        superseded_by_decision_id: rejected.decision_id,
      });
    const audited = () =>
      stack.wire
        .json<AuditEvent>(ns.topics.audit)
        .filter((a) => a.detail.approval_id === request.approval_id && a.outcome === 'Superseded');
    await stack.wire.until(() => (audited().length === 3 ? true : undefined));

    // The first outcome retried after a worker from before outcomes were recorded applied it (no record
    // of it): the ledger's resolution is its own, so it answers applied again; the other runs' still not.
    await ns.pool.query('delete from approval_outcomes where tenant_id = $1 and decision_id = $2', [
      TENANT,
      rejected.decision_id,
    ]);
    expect(await acts.recordOutcome(approved)).toEqual({ applied: false, superseded_by_decision_id: null });
    expect(await acts.recordOutcome(rejectedAgain)).toEqual({ applied: false, superseded_by_decision_id: null });
    expect(await acts.recordOutcome(rejected)).toMatchObject({
      applied: true,
      decision: { decision_id: rejected.decision_id, decision: 'block' },
    });
    expect(await acts.recordOutcome(approved)).toEqual({
      applied: false,
      superseded_by_decision_id: rejected.decision_id,
    });
    const ledger = await ns.pool.query<{ approval_status: string }>(
      'select approval_status from step_ledger where tenant_id = $1 and approval_id = $2',
      [TENANT, request.approval_id],
    );
    expect(ledger.rows).toEqual([{ approval_status: 'rejected' }]);
    expect(await retryAtGate(step)).toBe('WORKFLOW_TERMINAL');

    // An expiry, then another run's expiry: the second publishes nothing either.
    const other = await pendingDeploy();
    const expired: OutcomeInput = { ...approvedBy(other.request, 'alice'), status: 'expired', decided_by: null };
    expect(await acts.recordOutcome(expired)).toMatchObject({ applied: true });
    const expiredAgain: OutcomeInput = { ...expired, decision_id: randomUUID(), audit_event_id: randomUUID() };
    expect(await acts.recordOutcome(expiredAgain)).toEqual({
      applied: false,
      superseded_by_decision_id: expired.decision_id,
    });
  });
});
