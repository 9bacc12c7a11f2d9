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
  const created: string[] = [];
  for (let attempt = 1; ; attempt++) {
    try {
      created.push(...(await createMissing(admin, options)));
      // After a failed wait, the topics exist but their leaders are unconfirmed: ask until they answer.
      if (attempt > 1)
        await admin.fetchTopicMetadata({
          topics: TOPIC_SPECS.map((spec) => topicName(spec.name, options.prefix ?? DEFAULT_TOPIC_PREFIX)),
        });
      return created;
    } catch (err) {
      // While the controller settles new topics (e.g. many created at once), the leader wait may see
      // a retriable protocol error such as UNKNOWN_TOPIC_OR_PARTITION: list again and carry on.
      if (!isRetriable(err) || attempt >= 10) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

function isRetriable(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { retriable?: unknown }).retriable === true;
}

async function createMissing(admin: Admin, options: EnsureTopicsOptions): Promise<string[]> {
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
