import { z } from 'zod';
import { OfflineGateRequestSchema, type OfflineGateRequest } from '@stepgate/contracts';
import { evaluate, usageKeyFor, type CompiledBundle, type EvaluationResult } from '@stepgate/policy-engine';
import { InputError } from './io.js';

/** A counter named as a test writes it: the policy, its subject (the `per` values, in order) and the value. */
const NamedCounterSchema = z
  .object({
    policy: z.string().min(1),
    subject: z.union([z.array(z.unknown()), z.string(), z.number(), z.boolean(), z.null()]).default([]),
    value: z.number().nonnegative(),
  })
  .strict();

/**
 * Usage counters: by usage key (as `usage_keys_read` prints them), or as a list of counters named by
 * policy and subject (the key, with its window start, is then worked out for the evaluation time).
 */
export const UsageSchema = z.union([z.record(z.string(), z.number().nonnegative()), z.array(NamedCounterSchema)]);
export type Usage = z.infer<typeof UsageSchema>;

/** Usage keyed as the engine reads it. */
export function usageByKey(compiled: CompiledBundle, usage: Usage, now: number): Record<string, number> {
  if (!Array.isArray(usage)) return usage;
  const out: Record<string, number> = {};
  for (const counter of usage) {
    const policy = compiled.bundle.policies.find((p) => p.name === counter.policy);
    if (!policy) throw new InputError(`usage: the bundle has no policy "${counter.policy}"`);
    const per = (policy.rate_limit ?? policy.budget)?.per;
    const subject = Array.isArray(counter.subject) ? counter.subject : [counter.subject];
    if (per && subject.length !== per.length)
      throw new InputError(
        `usage: policy "${counter.policy}" counts per ${per.join(', ')}; give the subject as ${per.length} value${per.length === 1 ? '' : 's'} in that order`,
      );
    const key = usageKeyFor(policy, subject, now);
    if (key === undefined)
      throw new InputError(`usage: policy "${counter.policy}" is not a rate limit or budget; it has no counter`);
    out[key] = (out[key] ?? 0) + counter.value;
  }
  return out;
}

/** Evaluates one offline request against a compiled bundle, as the evaluator would for that tenant. */
export function evaluateOffline(
  compiled: CompiledBundle,
  request: OfflineGateRequest,
  now: number,
  usage?: Usage,
): EvaluationResult {
  // Offline, the request names its tenant; it must be the bundle's, as a credential's tenant would be.
  const bundleTenant = compiled.bundle.tenant_id;
  if (request.tenant_id !== bundleTenant)
    throw new InputError(`request tenant_id "${request.tenant_id}" is not the bundle's tenant "${bundleTenant}"`);
  const { tenant_id, retry_context, user_roles, ...step } = request;
  return evaluate(compiled, {
    step,
    tenant_id,
    now,
    user_roles,
    ...(retry_context ? { retry: retry_context } : {}),
    ...(usage ? { usage: usageByKey(compiled, usage, now) } : {}),
  });
}

export { OfflineGateRequestSchema };
