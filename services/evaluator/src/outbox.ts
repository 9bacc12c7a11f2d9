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
    const full: AuditEvent = {
      id: randomUUID(),
      timestamp: new Date().toISOString(),
      execution_id: event.execution_id ?? null,
      ...event,
    };
    this.add('audit', full.tenant_id ?? 'unattributed', full);
  }

  /**
   * The messages in produce requests of at most `maxBytes` of values each: a broker refuses a record
   * batch over its message.max.bytes (1 MiB by default), and a busy batch's decisions exceed that.
   */
  chunks(maxBytes = 512 * 1024): TopicMessages[][] {
    const out: TopicMessages[][] = [];
    let current = new Map<string, Message[]>();
    let bytes = 0;
    const flush = () => {
      if (current.size) out.push([...current].map(([topic, messages]) => ({ topic, messages })));
      current = new Map();
      bytes = 0;
    };
    for (const [topic, messages] of this.byTopic) {
      for (const m of messages) {
        const size = (m.value as Buffer | string).length;
        if (bytes > 0 && bytes + size > maxBytes) flush();
        const list = current.get(topic);
        if (list) list.push(m);
        else current.set(topic, [m]);
        bytes += size;
      }
    }
    flush();
    return out;
  }

  /** Appends another outbox's messages after this one's (per topic, in order). */
  absorb(other: Outbox): void {
    for (const [topic, messages] of other.byTopic) {
      const list = this.byTopic.get(topic);
      if (list) list.push(...messages);
      else this.byTopic.set(topic, [...messages]);
    }
  }

  get size(): number {
    let n = 0;
    for (const m of this.byTopic.values()) n += m.length;
    return n;
  }
}

/** The audit/approval summary of a request's inputs: redacted (`redactKeys`, default DEFAULT_REDACTED_KEYS) and truncated. */
export function summarize(raw: Record<string, unknown>, redactKeys?: readonly string[]): string {
  const toolInput = (raw.tool_context as { tool_input?: unknown } | undefined)?.tool_input;
  const inputs = {
    ...(raw.step_input !== undefined ? { step_input: raw.step_input } : {}),
    ...(toolInput !== undefined ? { tool_input: toolInput } : {}),
  };
  return summarizeInputs(inputs, redactKeys ? { redactKeys } : {});
}
