import { z } from 'zod';
import { OfflineGateRequestSchema, type OfflineGateRequest } from '@stepgate/contracts';
import { evaluate, type CompiledBundle, type EvaluationResult } from '@stepgate/policy-engine';
import { InputError } from './io.js';

export const UsageSchema = z.record(z.string(), z.number().nonnegative());

/** Evaluates one offline request against a compiled bundle, as the evaluator would for that tenant. */
export function evaluateOffline(
  compiled: CompiledBundle,
  request: OfflineGateRequest,
  now: number,
  usage?: Record<string, number>,
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
    ...(usage ? { usage } : {}),
  });
}

export { OfflineGateRequestSchema };
