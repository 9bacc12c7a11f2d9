import { GateStepSchema, type GateStepInput, type RetryContext } from '@stepgate/contracts';
import {
  compileBundle,
  evaluate,
  type EvaluationInput,
  type EvaluationResult,
  type CompiledBundle,
} from '../src/index.js';

/** Bundles in tests are plain JSON, as a user writes them: validation is part of what is tested. */
export type BundleJson = Record<string, unknown>;

export const NOW = Date.parse('2026-11-18T10:30:00Z'); // a Wednesday

export function bundle(overrides: BundleJson = {}): BundleJson {
  return {
    tenant_id: 'acme',
    environment: 'development',
    workflow_access: { mode: 'open' },
    policies: [],
    tools: [],
    delegations: [],
    ...overrides,
  };
}

export function policy(overrides: Record<string, unknown>): Record<string, unknown> {
  return {
    name: 'p',
    type: 'context_aware',
    category: 'dynamic-security',
    priority: 100,
    conditions: [],
    actions: [{ type: 'block', config: { reason: 'r' } }],
    ...overrides,
  };
}

export function step(overrides: Partial<GateStepInput> = {}) {
  return GateStepSchema.parse({ workflow_id: 'wf-1', step_id: 's-1', step_type: 'llm_call', ...overrides });
}

export interface Extra {
  retry?: RetryContext;
  now?: number;
  usage?: Record<string, number>;
  user_roles?: string[];
  tenant_id?: string;
  scope?: 'workflow' | 'gateway';
}

export function input(stepOverrides: Partial<GateStepInput> = {}, extra: Extra = {}): EvaluationInput {
  return { tenant_id: 'acme', now: NOW, ...extra, step: step(stepOverrides) };
}

export function decide(
  b: BundleJson | CompiledBundle,
  stepOverrides: Partial<GateStepInput> = {},
  extra: Extra = {},
): EvaluationResult {
  const compiled = 'allowlist' in b ? (b as CompiledBundle) : compileBundle(b);
  return evaluate(compiled, input(stepOverrides, extra));
}
