/**
 * The demo orchestrator of `npm run dev`: an agent's release workflow, every step gated by stepgate
 * before it runs. It shows an allowed LLM call, a blocked destructive SQL call, a background write
 * refused by action safety, and a deploy that waits for a human approval.
 */
import { randomUUID } from 'node:crypto';
import type { GateClient, GateStepRequest } from '@stepgate/client';
import type { GateDecision } from '@stepgate/contracts';

export interface DemoStep {
  name: string;
  decision: GateDecision['decision'];
  policy: string | null;
  error_code: string | null;
  reason: string;
  latency_ms: number;
  approval_id?: string;
  approval_status?: string;
}

export interface DemoOptions {
  gate: GateClient;
  /** Called with the approval id when the deploy waits for a human; resolve when a decision was made (or never, to wait for one from the CLI). */
  onApprovalNeeded: (approvalId: string, command: string) => Promise<void> | void;
  log: (line: string) => void;
  workflowId?: string;
  approvalTimeoutMs?: number;
  /** The approver key file the printed approve command signs with (default alice.json). */
  approverKeyFile?: string;
}

const STEPS: Array<{ name: string; request: Omit<GateStepRequest, 'workflow_id' | 'step_id'> }> = [
  {
    name: 'summarize-ticket',
    request: {
      step_type: 'llm_call',
      model: 'claude-sonnet',
      provider: 'anthropic',
      step_input: { ticket: 'REL-42: ship the new billing export' },
    },
  },
  {
    name: 'clean-up-orders',
    request: {
      step_type: 'tool_call',
      tool_context: { tool_name: 'sql_query', tool_input: { query: 'DROP TABLE orders' } },
    },
  },
  {
    name: 'sync-crm-overnight',
    request: {
      step_type: 'tool_call',
      execution_mode: 'background',
      agent_id: 'night-agent',
      tool_context: { tool_name: 'update_crm', tool_input: { account: 'acme', plan: 'enterprise' } },
    },
  },
  {
    name: 'deploy-to-production',
    request: {
      step_type: 'connector_call',
      step_name: 'deploy billing-export',
      user_id: 'dev-1',
      step_input: { environment: 'production', version: '2.4.0' },
    },
  },
  {
    name: 'announce-release',
    request: {
      step_type: 'tool_call',
      tool_context: {
        tool_name: 'slack_post',
        tool_input: { channel_id: 'C0123', text: 'billing-export 2.4.0 is live' },
      },
    },
  },
];

const MARK: Record<GateDecision['decision'], string> = {
  allow: '✔ allow           ',
  block: '✖ block           ',
  require_approval: '⏸ require_approval',
};

export function describeStep(s: DemoStep): string {
  const why = s.policy ? `policy ${s.policy}` : s.error_code ? `error ${s.error_code}: ${s.reason}` : s.reason;
  return `  ${MARK[s.decision]}  ${s.name.padEnd(22)} ${`${s.latency_ms.toFixed(0)} ms`.padStart(7)}  ${why}${s.approval_status ? ` (approval ${s.approval_status})` : ''}`;
}

/** Runs the release workflow once; a block skips that step, the deploy waits for its approval. */
export async function runDemo(o: DemoOptions): Promise<{ workflowId: string; steps: DemoStep[] }> {
  const workflowId = o.workflowId ?? `release-${randomUUID().slice(0, 8)}`;
  o.log(`demo workflow ${workflowId}: ${STEPS.length} steps, each gated before it runs`);
  const steps: DemoStep[] = [];
  for (const { name, request } of STEPS) {
    const started = performance.now();
    let d = await o.gate.gate({ ...request, workflow_id: workflowId, step_id: name });
    let latency = performance.now() - started;
    if (d.decision === 'require_approval' && d.approval_id) {
      steps.push(record(name, d, latency));
      o.log(describeStep(steps.at(-1)!));
      const command = `npm run stepgate -- approvals approve ${d.approval_id} --key ${o.approverKeyFile ?? 'alice.json'} --comment "Release plan reviewed"`;
      const outcome = o.gate.gate(
        { ...request, workflow_id: workflowId, step_id: name },
        { waitForApproval: true, timeoutMs: o.approvalTimeoutMs ?? 24 * 3_600_000 },
      );
      await o.onApprovalNeeded(d.approval_id, command);
      const waitStarted = performance.now();
      d = await outcome;
      latency = performance.now() - waitStarted;
    }
    steps.push(record(name, d, latency));
    o.log(describeStep(steps.at(-1)!));
    if (d.decision === 'allow') await o.gate.complete({ workflow_id: workflowId, step_id: name, output: { ok: true } });
  }
  return { workflowId, steps };
}

function record(name: string, d: GateDecision, latency: number): DemoStep {
  return {
    name,
    decision: d.decision,
    policy: d.policies_matched[0]?.policy_id ?? null,
    error_code: d.error?.code ?? null,
    reason: d.reason,
    latency_ms: latency,
    ...(d.approval_id ? { approval_id: d.approval_id } : {}),
    ...(d.approval_status ? { approval_status: d.approval_status } : {}),
  };
}
