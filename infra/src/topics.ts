import type { Admin } from 'kafkajs';
import { DEFAULT_TOPIC_PREFIX, TOPIC_SPECS, topicName } from '@stepgate/contracts';

export interface EnsureTopicsOptions {
  prefix?: string;
  replicationFactor?: number;
}

/**
 * Creates the project's topics that are missing (the broker has auto-creation off) and waits for
 * their leaders, so a producer right after this call never races partition assignment.
 * Returns the physical names it created.
 */
export async function ensureTopics(admin: Admin, options: EnsureTopicsOptions = {}): Promise<string[]> {
  const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
  const existing = new Set(await admin.listTopics());
  const missing = TOPIC_SPECS.filter((spec) => !existing.has(topicName(spec.name, prefix)));
  if (missing.length === 0) return [];
  await admin.createTopics({
    waitForLeaders: true,
    topics: missing.map((spec) => ({
      topic: topicName(spec.name, prefix),
      numPartitions: spec.partitions,
      replicationFactor: options.replicationFactor ?? 1,
      configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value })),
    })),
  });
  return missing.map((spec) => topicName(spec.name, prefix));
}
