import { randomUUID } from 'node:crypto';
import type { IHeaders, Message, TopicMessages } from 'kafkajs';
import { summarizeInputs, type AuditEvent, type TopicName } from '@stepgate/contracts';

/** Messages one batch will publish, sent together with one sendBatch before offsets are committed. */
export class Outbox {
  private readonly byTopic = new Map<string, Message[]>();

  constructor(private readonly topics: Record<TopicName, string>) {}

  add(topic: TopicName, key: string | null, value: unknown, headers?: IHeaders): void {
    const physical = this.topics[topic];
    const list = this.byTopic.get(physical) ?? [];
    list.push({ key, value: Buffer.isBuffer(value) ? value : JSON.stringify(value), ...(headers ? { headers } : {}) });
    this.byTopic.set(physical, list);
  }

  audit(event: Omit<AuditEvent, 'id' | 'timestamp' | 'execution_id'> & { execution_id?: string | null }): void {
    const full: AuditEvent = { id: randomUUID(), timestamp: new Date().toISOString(), execution_id: event.execution_id ?? null, ...event };
    this.add('audit', full.tenant_id ?? 'unattributed', full);
  }

  get topicMessages(): TopicMessages[] {
    return [...this.byTopic].map(([topic, messages]) => ({ topic, messages }));
  }

  get size(): number {
    let n = 0;
    for (const m of this.byTopic.values()) n += m.length;
    return n;
  }
}

export const summarize = (raw: Record<string, unknown>): string =>
  summarizeInputs({ step_input: raw.step_input, tool_input: (raw.tool_context as { tool_input?: unknown } | undefined)?.tool_input });
