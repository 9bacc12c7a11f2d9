import {
  evaluate,
  parseField,
  type Bundle,
  type CompiledBundle,
  type EvaluationInput,
  type EvaluationResult,
} from '@stepgate/policy-engine';
import type { RecordedInput } from '@stepgate/store';

/** One decision that would change under the draft. */
export interface ChangedDecision {
  request_id: string;
  workflow_id: string;
  decided_at: string;
  policy_version: number;
  from: string;
  to: string;
  matched_before: string[];
  matched_after: string[];
  reason_after: string;
}

export interface ReplayReport {
  decisions: number;
  changed: number;
  /** Counts by change, e.g. `{"allow -> block": 3}`. */
  changes: Record<string, number>;
  /** Matches per policy id under the recorded decisions and under the draft. */
  policy_matches: { before: Record<string, number>; after: Record<string, number> };
  /** The first examples of each kind of change. */
  examples: Record<string, ChangedDecision[]>;
  /** Replays whose draft conditions read a field the recorded input holds only as a keyed hash (their result is uncertain). */
  depends_on_redacted: number;
  /** Request ids of the first such replays. */
  redacted_examples: string[];
}

export const EXAMPLES_PER_CHANGE = 5;

/**
 * Tallies a what-if replay: every recorded input evaluated against the draft with the same pure
 * engine, compared with the decision recorded for it. Holds only counts and a few examples, so any
 * number of inputs replays in bounded memory.
 */
export class ReplayTally {
  readonly report: ReplayReport = {
    decisions: 0,
    changed: 0,
    changes: {},
    policy_matches: { before: {}, after: {} },
    examples: {},
    depends_on_redacted: 0,
    redacted_examples: [],
  };
  private readonly draftFields: string[];

  constructor(private readonly draft: CompiledBundle) {
    this.draftFields = recordedPathsReadBy(draft.bundle);
  }

  add(row: RecordedInput): EvaluationResult {
    const r = this.report;
    const result = evaluate(this.draft, row.input as unknown as EvaluationInput);
    r.decisions++;
    for (const p of row.policies_matched) r.policy_matches.before[p] = (r.policy_matches.before[p] ?? 0) + 1;
    const after = result.policies_matched.map((p) => p.policy_id);
    for (const p of after) r.policy_matches.after[p] = (r.policy_matches.after[p] ?? 0) + 1;
    if (row.redacted_paths.some((path) => this.draftFields.some((f) => overlaps(f, path)))) {
      r.depends_on_redacted++;
      if (r.redacted_examples.length < EXAMPLES_PER_CHANGE) r.redacted_examples.push(row.request_id);
    }
    if (result.decision !== row.decision) {
      const kind = `${row.decision} -> ${result.decision}`;
      r.changed++;
      r.changes[kind] = (r.changes[kind] ?? 0) + 1;
      const examples = (r.examples[kind] ??= []);
      if (examples.length < EXAMPLES_PER_CHANGE)
        examples.push({
          request_id: row.request_id,
          workflow_id: row.workflow_id,
          decided_at: new Date(row.decided_at).toISOString(),
          policy_version: row.policy_version,
          from: row.decision,
          to: result.decision,
          matched_before: row.policies_matched,
          matched_after: after,
          reason_after: result.reason,
        });
    }
    return result;
  }
}

/** Where in a recorded input (`{step, …}`) each condition field of the bundle reads. */
function recordedPathsReadBy(bundle: Bundle): string[] {
  const paths = new Set<string>();
  for (const policy of bundle.policies)
    for (const c of policy.conditions) {
      const ref = parseField(c.field);
      if (typeof ref === 'string') continue;
      if (ref.namespace === 'step_input') paths.add(`step.step_input.${ref.path.join('.')}`);
      else if (ref.namespace === 'tool_input') paths.add(`step.tool_context.tool_input.${ref.path.join('.')}`);
      else if (ref.namespace === 'context') paths.add(`step.${ref.name}`);
    }
  return [...paths];
}

function overlaps(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}.`) || b.startsWith(`${a}.`);
}

/** Text form of a replay report. */
export function renderReplay(r: ReplayReport): string {
  let out = `${r.decisions} decisions replayed; ${r.changed} would change\n`;
  for (const [kind, n] of Object.entries(r.changes)) out += `  ${kind}: ${n}\n`;
  const policies = [
    ...new Set([...Object.keys(r.policy_matches.before), ...Object.keys(r.policy_matches.after)]),
  ].sort();
  if (policies.length) out += 'matches per policy (before -> after)\n';
  for (const p of policies) out += `  ${p}: ${r.policy_matches.before[p] ?? 0} -> ${r.policy_matches.after[p] ?? 0}\n`;
  for (const [kind, examples] of Object.entries(r.examples)) {
    out += `first ${kind}\n`;
    for (const e of examples)
      out += `  ${e.decided_at} ${e.workflow_id} request ${e.request_id} (v${e.policy_version}): ${e.reason_after}\n`;
  }
  if (r.depends_on_redacted)
    out += `note: ${r.depends_on_redacted} replays read fields recorded only as keyed hashes (STEPGATE_REDACT_KEYS); their results may differ from a live gate, e.g. ${r.redacted_examples.join(', ')}\n`;
  return out;
}
