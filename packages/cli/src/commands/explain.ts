import { compileBundle, explain, type EvaluationInput, type Explanation } from '@stepgate/policy-engine';
import { adminEnv, withServices } from '../admin/connections.js';
import { EXIT, InputError, printable, type Io } from '../io.js';

const REQUEST_ID = /^[0-9a-fA-F-]{36}$/;

/**
 * `stepgate explain <request_id>`: the recorded input of a fresh decision evaluated again against the
 * bundle version it was decided under, every policy and condition shown with the value seen
 * (values the redaction rules cover were recorded as keyed hashes and show as such).
 */
export async function explainCommand(
  requestId: string,
  opts: { tenant: string; json?: boolean },
  io: Io,
): Promise<number> {
  if (!REQUEST_ID.test(requestId)) throw new InputError(`"${requestId}": expected a request id (a UUID)`);
  const found = await withServices(adminEnv(), async (store) => {
    const recorded = await store.gateInputs.find(opts.tenant, requestId);
    if (!recorded) return undefined;
    const bundle = await store.bundles.version(opts.tenant, recorded.policy_version);
    return { recorded, bundle };
  });
  if (!found)
    throw new InputError(
      `no recorded decision ${requestId} for tenant "${opts.tenant}" (only fresh decisions by policy are recorded, within the audit retention)`,
    );
  const { recorded, bundle } = found;
  const explanation = explain(compileBundle(bundle.bundle), recorded.input as unknown as EvaluationInput);
  const summary = {
    request_id: recorded.request_id,
    decided_at: new Date(recorded.decided_at).toISOString(),
    policy_version: { version: recorded.policy_version, sha256: recorded.policy_sha256 },
    recorded_decision: recorded.decision,
    decision: explanation.result.decision,
    reason: explanation.result.reason,
    decided_by: explanation.result.decided_by,
    deciding_policy: explanation.deciding_policy,
    precedence: explanation.precedence,
    redacted_paths: recorded.redacted_paths,
    policies: explanation.policies,
  };
  io.out(opts.json ? `${JSON.stringify(summary)}\n` : renderExplanation(summary, explanation));
  return EXIT.ok;
}

function renderExplanation(
  s: { request_id: string; decided_at: string; recorded_decision: string } & Record<string, unknown>,
  e: Explanation,
): string {
  const show = (v: unknown) => (v === undefined ? '(absent)' : printable(JSON.stringify(v)));
  let out = `request ${s.request_id} decided ${s.decided_at} under v${(s.policy_version as { version: number }).version}: ${s.recorded_decision}\n`;
  out += `decided by ${e.result.decided_by}${e.deciding_policy ? ` (policy ${printable(e.deciding_policy)})` : ''}: ${printable(e.result.reason)}\n`;
  out += `precedence: ${e.precedence}\n`;
  for (const p of e.policies) {
    const state = !p.evaluated ? 'not evaluated' : p.matched ? 'MATCHED' : 'no match';
    out += `- ${printable(p.policy_name)} [${p.action}, priority ${p.priority}]: ${state}\n`;
    for (const c of p.conditions)
      out += `    ${c.held ? '✓' : '✗'} ${printable(c.field)} ${c.operator} ${show(c.expected)}; seen ${show(c.seen)}\n`;
  }
  return out;
}
