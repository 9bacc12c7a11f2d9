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
