import { Gauge, type Registry } from 'prom-client';
import type { BatchConsumerOptions } from '@stepgate/messaging';

const NAME = 'stepgate_consumer_lag_messages';

/**
 * Reports a consumer group's lag per partition, after each batch (handled or failed), into
 * `stepgate_consumer_lag_messages{group,topic,partition}` of `registry`: one gauge per registry, so
 * the consumers of one service (the audit log's and the alerts') share it. A partition whose batches
 * keep failing shows as growing lag.
 */
export function consumerLag(registry: Registry, group: string): NonNullable<BatchConsumerOptions['onBatchEnd']> {
  const gauge =
    (registry.getSingleMetric(NAME) as Gauge<'group' | 'topic' | 'partition'> | undefined) ??
    new Gauge({
      name: NAME,
      help: 'Messages behind the high watermark after the last batch, per consumer group, topic and partition',
      labelNames: ['group', 'topic', 'partition'],
      registers: [registry],
    });
  return ({ topic, partition, offsetLag }) => gauge.set({ group, topic, partition: String(partition) }, offsetLag);
}
