import { Gauge, type Registry } from 'prom-client';
import type { BatchConsumerOptions, ConsumerCommon } from '@stepgate/messaging';

const NAME = 'stepgate_consumer_lag_messages';

/**
 * A consumer group's lag per partition, after each batch (handled or failed), into
 * `stepgate_consumer_lag_messages{group,topic,partition}` of `registry`: one gauge per registry, so
 * the consumers of one service (the audit log's and the alerts') share it. A partition whose batches
 * keep failing shows as growing lag. At each join of the group the member forgets the partitions it
 * reported: after a rebalance, one it no longer has is reported by its new owner only.
 */
export function consumerLag(
  registry: Registry,
  group: string,
): Required<Pick<ConsumerCommon, 'onBatchEnd' | 'onGroupJoin'>> {
  const gauge =
    (registry.getSingleMetric(NAME) as Gauge<'group' | 'topic' | 'partition'> | undefined) ??
    new Gauge({
      name: NAME,
      help: 'Messages behind the high watermark after the last batch, per consumer group, topic and partition',
      labelNames: ['group', 'topic', 'partition'],
      registers: [registry],
    });
  const reported = new Map<string, { group: string; topic: string; partition: string }>();
  const onBatchEnd: NonNullable<BatchConsumerOptions['onBatchEnd']> = ({ topic, partition, offsetLag }) => {
    const labels = { group, topic, partition: String(partition) };
    reported.set(`${topic}/${partition}`, labels);
    gauge.set(labels, offsetLag);
  };
  return {
    onBatchEnd,
    onGroupJoin: () => {
      for (const labels of reported.values()) gauge.remove(labels);
      reported.clear();
    },
  };
}
