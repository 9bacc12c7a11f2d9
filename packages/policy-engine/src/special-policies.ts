import { canonicalJson } from '@stepgate/contracts';
import type { Policy, TimeAccess, WEEKDAYS } from './bundle.js';
import { compileAccessor, type Accessor } from './accessors.js';
import { parseField, type FieldRef } from './fields.js';
import type { EvaluationState } from './input.js';
import type { UsageIncrement } from './result.js';

/**
 * The extra test of rate-limit, budget, time-access and role-access policies, run once their
 * conditions match. `fires` means the policy's action applies; `increment` is what an allowed
 * step adds to the policy's counter.
 */
export type SpecialPredicate = (state: EvaluationState) => { fires: boolean; increment?: UsageIncrement };

/** The counter a rate-limit or budget policy reads for a request; undefined for other policies. */
export function counterKeyOf(policy: Policy): ((s: EvaluationState) => string) | undefined {
  if (policy.rate_limit)
    return counterKey('rate-limit', policy.name, policy.rate_limit.per, policy.rate_limit.window_seconds);
  if (policy.budget) return counterKey('budget', policy.name, policy.budget.per, policy.budget.window_seconds);
  return undefined;
}

export function compileSpecial(policy: Policy): SpecialPredicate | undefined {
  if (policy.rate_limit) {
    const { window_seconds, max_requests } = policy.rate_limit;
    const keyOf = counterKey('rate-limit', policy.name, policy.rate_limit.per, window_seconds);
    return (s) => {
      const key = keyOf(s);
      return { fires: s.usage(key) >= max_requests, increment: { key, by: 1, window_seconds } };
    };
  }
  if (policy.budget) {
    const { window_seconds, max_cost_usd } = policy.budget;
    const keyOf = counterKey('budget', policy.name, policy.budget.per, window_seconds);
    return (s) => {
      const key = keyOf(s);
      const cost = s.input.step.cost_usd ?? 0;
      return { fires: s.usage(key) + cost > max_cost_usd, increment: { key, by: cost, window_seconds } };
    };
  }
  if (policy.time_access) {
    const inWindow = compileTimeWindow(policy.time_access);
    return (s) => ({ fires: !inWindow(s.input.now) });
  }
  if (policy.role_access) {
    const required = policy.role_access.required_roles;
    return (s) => ({ fires: !required.some((r) => s.input.user_roles?.includes(r)) });
  }
  return undefined;
}

/**
 * One counter per subject and window, keyed by the canonical JSON (RFC 8785) of
 * `[kind, policy, [per values], window, window start (epoch s)]`: every part quoted or bracketed, so
 * distinct subjects never share a counter (the former `kind:policy:a|b:window:start` made user `a|b`
 * and agent `c` the counter of user `a` and agent `b|c`, and the string "1" that of the number 1), and
 * object values count as one subject whatever their key order. A missing value counts as null.
 *
 * Counters kept under the former keys are not read any more: a limit counts from zero again for the
 * rest of the window that was open when this changed (at most one window per policy), then as before.
 */
function counterKey(
  kind: string,
  policyName: string,
  per: string[],
  windowSeconds: number,
): (s: EvaluationState) => string {
  const accessors: Accessor[] = per.map((f) => compileAccessor(parseField(f) as FieldRef));
  return (s) =>
    keyOf(
      kind,
      policyName,
      accessors.map((get) => get(s) ?? null),
      windowSeconds,
      s.input.now,
    );
}

function keyOf(kind: string, policyName: string, subject: unknown[], windowSeconds: number, now: number): string {
  const windowStart = Math.floor(now / 1000 / windowSeconds) * windowSeconds;
  return canonicalJson([kind, policyName, subject, windowSeconds, windowStart]);
}

/**
 * The usage key of a rate-limit or budget policy's counter for `subject` (the values of its `per`
 * fields, in order) in the window open at `now`: what a policy test names as policy and subject.
 * Undefined for a policy without a counter.
 */
export function usageKeyFor(policy: Policy, subject: readonly unknown[], now: number): string | undefined {
  const spec = policy.rate_limit ?? policy.budget;
  if (!spec) return undefined;
  return keyOf(policy.rate_limit ? 'rate-limit' : 'budget', policy.name, [...subject], spec.window_seconds, now);
}

function compileTimeWindow(spec: TimeAccess): (nowMs: number) => boolean {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: spec.timezone,
    weekday: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const days = new Set(spec.allowed_days);
  const start = minutes(spec.allowed_hours.start);
  const end = minutes(spec.allowed_hours.end);
  return (nowMs) => {
    let weekday = '';
    let hour = 0;
    let minute = 0;
    for (const part of format.formatToParts(nowMs)) {
      if (part.type === 'weekday') weekday = part.value.toLowerCase();
      else if (part.type === 'hour') hour = Number(part.value);
      else if (part.type === 'minute') minute = Number(part.value);
    }
    if (!days.has(weekday as (typeof WEEKDAYS)[number])) return false;
    const t = hour * 60 + minute;
    // A window whose end is before its start runs overnight (e.g. 22:00–06:00).
    return start <= end ? t >= start && t < end : t >= start || t < end;
  };
}

function minutes(hhmm: string): number {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
}
