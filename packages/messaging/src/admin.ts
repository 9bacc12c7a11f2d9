import type { Admin, ITopicConfig } from 'kafkajs';
import { DEFAULT_TOPIC_PREFIX, TOPIC_SPECS, tenantDecisionTopic, topicName, type TopicSpec } from '@stepgate/contracts';
import { isRetriableKafkaError, retryRetriable } from './errors.js';
import { createAcls, deleteAcls, type AclGrant } from './acls.js';

export interface EnsureTopicsOptions {
  prefix?: string;
  replicationFactor?: number;
}

/** How a topic is created from its spec: the one place partitions, replication and configs are applied. */
export function topicCreation(spec: TopicSpec, topic: string, replicationFactor: number): ITopicConfig {
  return {
    topic,
    numPartitions: spec.partitions,
    replicationFactor,
    configEntries: Object.entries(spec.config ?? {}).map(([name, value]) => ({ name, value })),
  };
}

const DECISIONS_SPEC = TOPIC_SPECS.find((s) => s.name === 'gate.decisions')!;

/** Topic and group administration over one connected admin client. */
export class TopicAdmin {
  constructor(private readonly admin: Admin) {}

  /**
   * Creates the project's topics that are missing (the broker has auto-creation off) and waits for
   * their leaders, so a producer right after this call never races partition assignment.
   * Returns the physical names it created.
   */
  async ensureTopics(options: EnsureTopicsOptions = {}): Promise<string[]> {
    const created: string[] = [];
    for (let attempt = 1; ; attempt++) {
      try {
        created.push(...(await this.createMissing(options)));
        // After a failed wait, the topics exist but their leaders are unconfirmed: ask until they answer.
        if (attempt > 1)
          await this.admin.fetchTopicMetadata({
            topics: TOPIC_SPECS.map((spec) => topicName(spec.name, options.prefix ?? DEFAULT_TOPIC_PREFIX)),
          });
        return created;
      } catch (err) {
        // While the controller settles new topics (e.g. many created at once), the leader wait may see
        // a retriable protocol error such as UNKNOWN_TOPIC_OR_PARTITION: list again and carry on.
        if (!isRetriableKafkaError(err) || attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  private async createMissing(options: EnsureTopicsOptions): Promise<string[]> {
    const prefix = options.prefix ?? DEFAULT_TOPIC_PREFIX;
    const existing = new Set(await this.admin.listTopics());
    const missing = TOPIC_SPECS.filter((spec) => !existing.has(topicName(spec.name, prefix)));
    if (missing.length === 0) return [];
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((spec) => topicCreation(spec, topicName(spec.name, prefix), options.replicationFactor ?? 1)),
    });
    return missing.map((spec) => topicName(spec.name, prefix));
  }

  createTopic(topic: string, partitions: number): Promise<boolean> {
    return this.admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions }] });
  }

  /**
   * Creates a tenant's own decisions topic (`tenantDecisionTopic`) if it is missing, as the shared
   * decisions topic is made (`gate.decisions` in TOPIC_SPECS: partitions and configs), replicated as
   * `replicationFactor` says or else as the shared topic is. Returns whether it was created.
   */
  async ensureTenantDecisionTopic(
    tenantId: string,
    prefix: string = DEFAULT_TOPIC_PREFIX,
    options: { replicationFactor?: number } = {},
  ): Promise<boolean> {
    const topic = tenantDecisionTopic(tenantId, prefix);
    if ((await this.admin.listTopics()).includes(topic)) return false;
    const replicationFactor =
      options.replicationFactor ?? (await this.replicationOf(topicName('gate.decisions', prefix)));
    let created = false;
    try {
      created = await this.admin.createTopics({
        waitForLeaders: false,
        topics: [topicCreation(DECISIONS_SPEC, topic, replicationFactor)],
      });
    } catch (err) {
      // Created meanwhile by another process: what was wanted.
      if (!(await this.admin.listTopics()).includes(topic)) throw err;
    }
    // Its leaders, asked until they answer (right after creation the metadata may not know it yet).
    await retryRetriable(() => this.admin.fetchTopicMetadata({ topics: [topic] }), 10);
    return created;
  }

  /** How many replicas a topic's partitions have (1 when the topic is not there to ask). */
  private async replicationOf(topic: string): Promise<number> {
    if (!(await this.admin.listTopics()).includes(topic)) return 1;
    const { topics } = await retryRetriable(() => this.admin.fetchTopicMetadata({ topics: [topic] }), 10);
    return topics[0]?.partitions[0]?.replicas.length || 1;
  }

  grant(grants: readonly AclGrant[]): Promise<void> {
    return createAcls(this.admin, grants);
  }

  revoke(grants: readonly AclGrant[]): Promise<void> {
    return deleteAcls(this.admin, grants);
  }

  deleteTopics(topics: string[]): Promise<void> {
    return this.admin.deleteTopics({ topics });
  }

  listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  /** Each partition's next offset (its end) now. */
  async topicEnds(topic: string): Promise<Array<{ partition: number; high: string }>> {
    const offsets = await retryRetriable(() => this.admin.fetchTopicOffsets(topic));
    return offsets.map((o) => ({ partition: o.partition, high: o.high }));
  }

  /** A group's committed offset per partition of a topic (-1 where it has none). */
  async committedOffsets(groupId: string, topic: string): Promise<Array<{ partition: number; offset: string }>> {
    const [committed] = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    return committed?.partitions ?? [];
  }

  async describeCluster(): Promise<{ clusterId: string; brokers: number; controller: number | null }> {
    const cluster = await this.admin.describeCluster();
    return { clusterId: cluster.clusterId, brokers: cluster.brokers.length, controller: cluster.controller };
  }
}
