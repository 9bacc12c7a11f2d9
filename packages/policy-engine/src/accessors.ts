import type { FieldRef } from './fields.js';
import type { EvaluationState } from './input.js';

/** Reads one field of the flattened evaluation context; undefined when absent. */
export type Accessor = (state: EvaluationState) => unknown;

export function compileAccessor(ref: FieldRef): Accessor {
  switch (ref.namespace) {
    case 'context':
      switch (ref.name) {
        case 'tenant_id':
          return (s) => s.input.tenant_id;
        case 'tool_name':
          return (s) => s.input.step.tool_context?.tool_name;
        case 'tool_type':
          return (s) => s.input.step.tool_context?.tool_type;
        default: {
          const name = ref.name;
          return (s) => s.input.step[name];
        }
      }
    case 'step':
      return stepAccessor(ref.name);
    case 'step_input': {
      const path = ref.path;
      return (s) => walk(s.input.step.step_input, path);
    }
    case 'tool_input': {
      const path = ref.path;
      const top = path[0]!;
      return (s) => {
        const visible = s.visibleToolInputKeys();
        if (visible && !visible.has(top)) return undefined;
        return walk(s.input.step.tool_context?.tool_input, path);
      };
    }
  }
}

/** step.* as reference 003 defines them; without a retry context this is the step's first gate. */
function stepAccessor(name: Extract<FieldRef, { namespace: 'step' }>['name']): Accessor {
  switch (name) {
    case 'gate_count':
      return (s) => s.input.retry?.gate_count ?? 1;
    case 'completion_count':
      return (s) => s.input.retry?.completion_count ?? 0;
    case 'prior_completion_status':
      return (s) => s.input.retry?.prior_completion_status ?? 'none';
    case 'prior_output_available':
      return (s) => s.input.retry?.prior_output_available ?? false;
    case 'last_decision':
      return (s) => s.input.retry?.last_decision ?? undefined;
    case 'idempotency_key':
      return (s) => s.input.retry?.idempotency_key ?? '';
    case 'first_attempt_age_seconds':
      return (s) => {
        const first = s.input.retry?.first_attempt_at;
        return first === undefined ? 0 : Math.max(0, Math.floor((s.input.now - Date.parse(first)) / 1000));
      };
  }
}

/** Follows a dotted path through plain objects (own keys only); undefined when any step is missing. */
export function walk(root: unknown, path: readonly string[]): unknown {
  let node = root;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}
