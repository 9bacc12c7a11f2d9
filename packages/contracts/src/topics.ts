/** Logical topic names; the physical name is `${prefix}${name}`. */
export const TOPIC_NAMES = [
  'gate.requests',
  'gate.decisions',
  'step.completions',
  'approvals',
  'workflow.events',
  'audit',
  'alerts',
  'policies',
  'dlq',
] as const;

export type TopicName = (typeof TOPIC_NAMES)[number];

export interface TopicSpec {
  name: TopicName;
  partitions: number;
  /** Extra topic configs, e.g. compaction for the per-tenant policy stream. */
  config?: Record<string, string>;
}

/**
 * Partition counts are the unit of evaluator scale-out: a consumer group never has more
 * active members than partitions, so the gate topics get the most.
 */
export const TOPIC_SPECS: readonly TopicSpec[] = [
  { name: 'gate.requests', partitions: 12 },
  { name: 'gate.decisions', partitions: 12 },
  { name: 'step.completions', partitions: 12 },
  { name: 'approvals', partitions: 6 },
  { name: 'workflow.events', partitions: 6 },
  { name: 'audit', partitions: 6 },
  { name: 'alerts', partitions: 3 },
  { name: 'policies', partitions: 3, config: { 'cleanup.policy': 'compact' } },
  { name: 'dlq', partitions: 3 },
];

export const DEFAULT_TOPIC_PREFIX = 'stepgate.';

export function topicName(name: TopicName, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  return `${prefix}${name}`;
}

/** All physical topic names for one prefix (tests use a unique prefix per file). */
export function topicsFor(prefix: string = DEFAULT_TOPIC_PREFIX): Record<TopicName, string> {
  return Object.fromEntries(TOPIC_NAMES.map((n) => [n, topicName(n, prefix)])) as Record<TopicName, string>;
}

/**
 * Per-tenant decisions (an installation's STEPGATE_TENANT_DECISION_TOPICS): each tenant's decisions go to
 * `${prefix}gate.decisions.<tenant_id>` instead of the shared `${prefix}gate.decisions`, so a broker ACL
 * can let each orchestrator read its own tenant's decisions and no other's. Tenant ids are identifiers
 * (`[a-z0-9][a-z0-9_-]*`), all legal in a topic name.
 */
export const TENANT_DECISIONS_INFIX = 'gate.decisions.';

const TOPIC_SAFE_TENANT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Whether a tenant id can name its own decisions topic (letters, digits, `_`, `-`; at most 64). */
export function hasTenantDecisionTopic(tenantId: string): boolean {
  return TOPIC_SAFE_TENANT.test(tenantId);
}

export function tenantDecisionTopic(tenantId: string, prefix: string = DEFAULT_TOPIC_PREFIX): string {
  if (!hasTenantDecisionTopic(tenantId))
    throw new RangeError(`not a tenant id usable in a topic name: ${JSON.stringify(tenantId.slice(0, 80))}`);
  return `${prefix}${TENANT_DECISIONS_INFIX}${tenantId}`;
}

/**
 * The consumer-group prefix of a GateClient, which the secure installation's orchestrator ACLs grant:
 * `stepgate-client-<tenant>.` for a client reading its tenant's own decisions topic, so that no tenant's
 * orchestrator may use another's groups (the `.` ends the tenant id, which cannot contain one: `acme`'s
 * prefix does not cover `acme-x`'s groups); `stepgate-client-` for a client reading the shared topic.
 */
export function clientGroupPrefix(tenantId?: string): string {
  if (tenantId === undefined) return 'stepgate-client-';
  if (!hasTenantDecisionTopic(tenantId))
    throw new RangeError(`not a tenant id usable in a group name: ${JSON.stringify(tenantId.slice(0, 80))}`);
  return `stepgate-client-${tenantId}.`;
}

/**
 * Where a decision for `tenantId` is published: its tenant's topic when decisions are per tenant, else
 * (and for a decision attributed to no tenant, e.g. an unauthenticated request's refusal, or to a tenant
 * id that cannot name a topic) the shared one — which, under per-tenant ACLs, no orchestrator reads.
 */
export function decisionTopicFor(
  tenantId: string | null | undefined,
  options: { prefix?: string; perTenant: boolean },
): string {
  const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
  return options.perTenant && tenantId && hasTenantDecisionTopic(tenantId)
    ? tenantDecisionTopic(tenantId, prefix)
    : topicName('gate.decisions', prefix);
}
