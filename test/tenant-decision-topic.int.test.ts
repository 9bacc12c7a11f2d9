import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigResourceTypes } from 'kafkajs';
import { TOPIC_SPECS, tenantDecisionTopic, topicName } from '@stepgate/contracts';
import { testNamespace } from '@stepgate/test';
import { TopicAdmin, topicCreation } from '@stepgate/messaging';

const ns = testNamespace('tenant-decision-topic');
const shared = topicName('gate.decisions', ns.topicPrefix);
const own = tenantDecisionTopic('acme', ns.topicPrefix);

beforeAll(async () => {
  await ns.createTopics();
});

afterAll(async () => {
  await ns.withAdmin((a) => a.deleteTopics({ topics: [own] })).catch(() => undefined);
  await ns.cleanup();
});

describe("a tenant's own decisions topic", () => {
  it('is created as the shared decisions topic is: partitions, replication and configs', async () => {
    expect(await ns.withAdmin((a) => new TopicAdmin(a).ensureTenantDecisionTopic('acme', ns.topicPrefix))).toBe(true);
    const { topics } = await ns.withAdmin((a) => a.fetchTopicMetadata({ topics: [shared, own] }));
    const shape = (name: string) => {
      const t = topics.find((x) => x.name === name)!;
      return { partitions: t.partitions.length, replicas: t.partitions.map((p) => p.replicas.length) };
    };
    expect(shape(own)).toEqual(shape(shared));
    expect(shape(own).partitions).toBe(TOPIC_SPECS.find((s) => s.name === 'gate.decisions')!.partitions);

    const described = await ns.withAdmin((a) =>
      a.describeConfigs({
        includeSynonyms: false,
        resources: [shared, own].map((name) => ({ type: ConfigResourceTypes.TOPIC, name })),
      }),
    );
    const configs = (name: string) =>
      Object.fromEntries(
        described.resources
          .find((r) => r.resourceName === name)!
          .configEntries.filter((c) => !c.isDefault)
          .map((c) => [c.configName, c.configValue]),
      );
    expect(configs(own)).toEqual(configs(shared));
    // A second call finds it there.
    expect(await ns.withAdmin((a) => new TopicAdmin(a).ensureTenantDecisionTopic('acme', ns.topicPrefix))).toBe(false);
  });

  it('takes every field of its spec, configs included, from the one creation helper', () => {
    const policies = TOPIC_SPECS.find((s) => s.name === 'policies')!;
    expect(topicCreation(policies, 'p', 3)).toEqual({
      topic: 'p',
      numPartitions: policies.partitions,
      replicationFactor: 3,
      configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
    });
  });
});
