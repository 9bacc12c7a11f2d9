/**
 * The field namespaces a condition may read, named exactly as reference 003 names them.
 * `step_input.*` and `tool_input.*` take any key (nested objects by dotted path).
 */
export const CONTEXT_FIELDS = [
  'step_type',
  'step_name',
  'model',
  'provider',
  'step_index',
  'workflow_id',
  'workflow_name',
  'source',
  'tool_name',
  'tool_type',
  'tenant_id',
  'agent_id',
  'user_id',
  'session_id',
  'execution_mode',
  'cost_usd',
  'tokens_in',
  'tokens_out',
] as const;

export const STEP_FIELDS = [
  'gate_count',
  'completion_count',
  'prior_completion_status',
  'prior_output_available',
  'last_decision',
  'first_attempt_age_seconds',
  'idempotency_key',
] as const;

export type ContextField = (typeof CONTEXT_FIELDS)[number];
export type StepField = (typeof STEP_FIELDS)[number];

export type FieldRef =
  | { namespace: 'context'; name: ContextField }
  | { namespace: 'step'; name: StepField }
  | { namespace: 'step_input' | 'tool_input'; path: string[] };

const contextFields = new Set<string>(CONTEXT_FIELDS);
const stepFields = new Set<string>(STEP_FIELDS);
const PATH_SEGMENT = /^[A-Za-z0-9_-]+$/;

/** Parses a dotted field reference; returns an explanation instead when it is outside the known namespaces. */
export function parseField(field: string): FieldRef | string {
  const dot = field.indexOf('.');
  const namespace = dot < 0 ? field : field.slice(0, dot);
  const rest = dot < 0 ? '' : field.slice(dot + 1);
  switch (namespace) {
    case 'context':
      return contextFields.has(rest)
        ? { namespace, name: rest as ContextField }
        : `unknown field "${field}": context.* is one of ${CONTEXT_FIELDS.join(', ')}`;
    case 'step':
      return stepFields.has(rest)
        ? { namespace, name: rest as StepField }
        : `unknown field "${field}": step.* is one of ${STEP_FIELDS.join(', ')}`;
    case 'step_input':
    case 'tool_input': {
      const path = rest.split('.');
      return rest !== '' && path.every((p) => PATH_SEGMENT.test(p))
        ? { namespace, path }
        : `field "${field}": expected ${namespace}.<key>[.<key>...] with keys of letters, digits, _ or -`;
    }
    default:
      return `unknown field namespace in "${field}": expected context.*, step_input.*, tool_input.* or step.*`;
  }
}
