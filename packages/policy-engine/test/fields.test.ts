import { GateStepSchema, MAX_TOOL_INPUT_KEYS } from '@stepgate/contracts';
import { describe, expect, it } from 'vitest';
import { bundle, decide, NOW, policy } from './helpers.js';

function blocksWhen(field: string, operator: string, value: unknown) {
  return bundle({ policies: [policy({ conditions: [{ field, operator, value }] })] });
}

describe('evaluation context fields', () => {
  it('context.* reads the step, its tool context, the credential tenant and the identity', () => {
    const cases: Array<[string, unknown, Record<string, unknown>]> = [
      ['context.step_type', 'tool_call', { step_type: 'tool_call' }],
      ['context.step_name', 'generate_code', { step_name: 'generate_code' }],
      ['context.model', 'gpt-4', { model: 'gpt-4' }],
      ['context.provider', 'anthropic', { provider: 'anthropic' }],
      ['context.step_index', 3, { step_index: 3 }],
      ['context.workflow_id', 'wf-9', { workflow_id: 'wf-9' }],
      ['context.workflow_name', 'Onboarding', { workflow_name: 'Onboarding' }],
      ['context.source', 'langgraph', { source: 'langgraph' }],
      ['context.tool_name', 'web_search', { tool_context: { tool_name: 'web_search' } }],
      ['context.tool_type', 'mcp', { tool_context: { tool_name: 't', tool_type: 'mcp' } }],
      ['context.agent_id', 'hr-assistant', { agent_id: 'hr-assistant' }],
      ['context.user_id', 'user-456', { user_id: 'user-456' }],
      ['context.session_id', 'sess-123', { session_id: 'sess-123' }],
      ['context.execution_mode', 'background', { execution_mode: 'background' }],
      ['context.cost_usd', 1.5, { cost_usd: 1.5 }],
      ['context.tokens_in', 1000, { tokens_in: 1000 }],
      ['context.tokens_out', 20, { tokens_out: 20 }],
    ];
    for (const [field, value, stepFields] of cases) {
      expect(decide(blocksWhen(field, 'equals', value), stepFields).decision, field).toBe('block');
      expect(decide(blocksWhen(field, 'equals', value), {}).decision, `${field} absent`).toBe('allow');
    }
    expect(decide(blocksWhen('context.tenant_id', 'equals', 'acme'), {}).decision).toBe('block');
    expect(decide(blocksWhen('context.tenant_id', 'equals', 'acme'), {}, { tenant_id: 'other' }).decision).toBe(
      'allow',
    );
  });

  it('execution_mode defaults to interactive', () => {
    expect(decide(blocksWhen('context.execution_mode', 'equals', 'interactive'), {}).decision).toBe('block');
  });

  it('step_input.* reads nested objects by dotted path', () => {
    const b = blocksWhen('step_input.deploy.target.env', 'equals', 'production');
    expect(decide(b, { step_input: { deploy: { target: { env: 'production' } } } }).decision).toBe('block');
    expect(decide(b, { step_input: { deploy: { target: 'production' } } }).decision).toBe('allow');
    expect(decide(b, { step_input: { 'deploy.target.env': 'production' } }).decision).toBe('allow');
  });

  it('a step whose tool_input has more keys than policies may see is refused by the step schema, naming the path', () => {
    const toolInput: Record<string, number> = {};
    for (let i = 0; i < MAX_TOOL_INPUT_KEYS + 10; i++) toolInput[`k${String(i).padStart(2, '0')}`] = i;
    const parsed = GateStepSchema.safeParse({
      workflow_id: 'wf',
      step_id: 's',
      step_type: 'tool_call',
      tool_context: { tool_name: 't', tool_input: toolInput },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => i.path.join('.'))).toEqual(['tool_context.tool_input']);
    // At the limit every key is visible: the last one decides.
    const atLimit = Object.fromEntries(Object.entries(toolInput).slice(0, MAX_TOOL_INPUT_KEYS));
    const last = `k${MAX_TOOL_INPUT_KEYS - 1}`;
    const r = decide(blocksWhen(`tool_input.${last}`, 'equals', MAX_TOOL_INPUT_KEYS - 1), {
      step_type: 'tool_call',
      tool_context: { tool_name: 't', tool_input: atLimit },
    });
    expect(r.decision).toBe('block');
    expect(r.tool_input_keys_ignored).toBe(0);
  });

  it('step.* comes from the retry context, with first-gate defaults when there is none', () => {
    const retry = {
      gate_count: 3,
      completion_count: 1,
      prior_completion_status: 'completed' as const,
      prior_output_available: true,
      last_decision: 'require_approval' as const,
      first_attempt_at: new Date(NOW - 90_500).toISOString(),
      idempotency_key: 'idem-7',
    };
    const expectations: Array<[string, unknown, unknown]> = [
      ['step.gate_count', 3, 1],
      ['step.completion_count', 1, 0],
      ['step.prior_completion_status', 'completed', 'none'],
      ['step.prior_output_available', true, false],
      ['step.last_decision', 'require_approval', undefined],
      ['step.first_attempt_age_seconds', 90, 0],
      ['step.idempotency_key', 'idem-7', ''],
    ];
    for (const [field, withRetry, firstGate] of expectations) {
      expect(decide(blocksWhen(field, 'equals', withRetry), {}, { retry }).decision, field).toBe('block');
      if (firstGate !== undefined)
        expect(decide(blocksWhen(field, 'equals', firstGate), {}).decision, `${field} default`).toBe('block');
    }
    expect(decide(blocksWhen('step.last_decision', 'not_equals', 'allow'), {}).decision).toBe('block');
  });
});
