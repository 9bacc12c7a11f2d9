import { describe, expect, it } from 'vitest';
import referencePolicies from './fixtures/reference-policies.json' with { type: 'json' };
import { compileBundle } from '../src/index.js';
import { bundle, decide } from './helpers.js';

// The seven example policies of reference 003, loaded verbatim, each shown deciding its case.
const compiled = compileBundle(bundle({ policies: referencePolicies }));

describe("reference 003's seven example policies", () => {
  it('all load as given', () => {
    expect(compiled.policies.workflow.size).toBe(7);
  });

  it('block-gpt4-in-workflows blocks GPT-4 LLM calls and not other models', () => {
    const r = decide(compiled, { step_type: 'llm_call', model: 'gpt-4', provider: 'azure' });
    expect(r.decision).toBe('block');
    expect(r.reason).toContain('GPT-4 not allowed in production workflows');
    expect(r.policies_matched.map((p) => p.policy_name)).toEqual(['block-gpt4-in-workflows']);
    expect(decide(compiled, { step_type: 'llm_call', model: 'gpt-4o', provider: 'azure' }).decision).toBe('allow');
  });

  it('require-approval-for-deploy asks a human for deployment connector calls (case-insensitive contains)', () => {
    const r = decide(compiled, { step_type: 'connector_call', step_name: 'Deploy_To_Staging' });
    expect(r.decision).toBe('require_approval');
    expect(r.severity).toBe('high');
    expect(r.deciding_policy?.policy_name).toBe('require-approval-for-deploy');
    expect(decide(compiled, { step_type: 'llm_call', step_name: 'deploy' }).decision).toBe('allow');
  });

  it('block-pii-in-workflow-inputs blocks when step_input.contains_pii is true, not the string "true"', () => {
    expect(decide(compiled, { step_input: { contains_pii: true } }).decision).toBe('block');
    expect(decide(compiled, { step_input: { contains_pii: 'true' } }).decision).toBe('allow');
    expect(decide(compiled, { step_input: { contains_pii: false } }).decision).toBe('allow');
  });

  it('block-external-providers blocks OpenAI LLM calls', () => {
    expect(decide(compiled, { step_type: 'llm_call', provider: 'openai', model: 'o3' }).decision).toBe('block');
    expect(
      decide(compiled, { step_type: 'llm_call', provider: 'bedrock', model: 'amazon.titan-text-express-v1' }).decision,
    ).toBe('allow');
  });

  it('block-code-executor blocks the code_executor tool', () => {
    const r = decide(compiled, {
      step_type: 'tool_call',
      tool_context: { tool_name: 'code_executor', tool_type: 'function' },
    });
    expect(r.decision).toBe('block');
    expect(r.reason).toContain('Code execution not allowed');
  });

  it('block-dangerous-sql blocks DROP TABLE in tool_input.query, whatever its case', () => {
    const sql = (query: string) =>
      decide(compiled, { step_type: 'tool_call', tool_context: { tool_name: 'sql_query', tool_input: { query } } });
    expect(sql('drop table users;').decision).toBe('block');
    expect(sql('SELECT * FROM users').decision).toBe('allow');
  });

  it('approve-mcp-writes routes MCP tool calls to a human', () => {
    const r = decide(compiled, {
      step_type: 'tool_call',
      tool_context: { tool_name: 'jira_create', tool_type: 'mcp' },
    });
    expect(r.decision).toBe('require_approval');
    expect(r.severity).toBe('medium');
  });

  it('reports the policies evaluated and matched as objects', () => {
    const r = decide(compiled, { step_type: 'llm_call', model: 'gpt-4', provider: 'openai' });
    expect(r.policies_matched.map((p) => p.policy_id).sort()).toEqual([
      'block-external-providers',
      'block-gpt4-in-workflows',
    ]);
    expect(r.policies_matched[0]).toEqual(
      expect.objectContaining({
        policy_id: expect.any(String),
        policy_name: expect.any(String),
        action: 'block',
        reason: expect.any(String),
        severity: null,
        allow_override: null,
      }),
    );
    // The index visits only candidates: the tool policies (indexed by tool_name) are never evaluated for an LLM call.
    const evaluated = r.policies_evaluated.map((p) => p.policy_name);
    expect(evaluated).toContain('block-gpt4-in-workflows');
    expect(evaluated).toContain('block-pii-in-workflow-inputs');
    expect(evaluated).not.toContain('block-code-executor');
  });
});
