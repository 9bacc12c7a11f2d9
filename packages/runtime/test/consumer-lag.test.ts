import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { consumerLag } from '../src/consumer-lag.js';

const series = async (registry: Registry) =>
  (await registry.getSingleMetric('stepgate_consumer_lag_messages')!.get()).values.map((v) => ({
    ...v.labels,
    value: v.value,
  }));

/** Two groups of one service, reporting into its one registry. */
function twoGroups() {
  const registry = new Registry();
  return { registry, audit: consumerLag(registry, 'audit'), alerts: consumerLag(registry, 'alerts') };
}

describe('consumerLag', () => {
  it('reports each partition of each group in one gauge per registry', async () => {
    const { registry, audit, alerts } = twoGroups();
    audit.onBatchEnd({ topic: 'a', partition: 0, offsetLag: 5 });
    alerts.onBatchEnd({ topic: 'a', partition: 0, offsetLag: 7 });
    audit.onBatchEnd({ topic: 'a', partition: 0, offsetLag: 2 });
    expect(await series(registry)).toEqual([
      { group: 'audit', topic: 'a', partition: '0', value: 2 },
      { group: 'alerts', topic: 'a', partition: '0', value: 7 },
    ]);
  });

  it("forgets a group's partitions at a join (a rebalance may have moved them), not the other group's", async () => {
    const { registry, audit, alerts } = twoGroups();
    audit.onBatchEnd({ topic: 'a', partition: 0, offsetLag: 5 });
    audit.onBatchEnd({ topic: 'a', partition: 1, offsetLag: 3 });
    alerts.onBatchEnd({ topic: 'a', partition: 1, offsetLag: 1 });
    audit.onGroupJoin();
    expect(await series(registry)).toEqual([{ group: 'alerts', topic: 'a', partition: '1', value: 1 }]);
    audit.onBatchEnd({ topic: 'a', partition: 1, offsetLag: 4 });
    expect(await series(registry)).toContainEqual({ group: 'audit', topic: 'a', partition: '1', value: 4 });
  });
});
