import {
  MAX_PRODUCE_REQUEST_BYTES,
  produceRequests,
  type MessageHeaders,
  type OutgoingMessage,
} from '@stepgate/messaging';
import { newAuditEvent, summarizeInputs, type AuditEvent, type TopicName } from '@stepgate/contracts';

/**
 * What one consumed batch will publish (decisions, approval requests, audit events, dead letters),
 * held in memory and sent together before the batch's offsets are committed.
 */
export class BatchMessages {
  private readonly byTopic = new Map<string, OutgoingMessage[]>();

  constructor(private readonly topics: Record<TopicName, string>) {}

  add(topic: TopicName, key: string | null, value: unknown, headers?: MessageHeaders): void {
    this.push({
      topic: this.topics[topic],
      key,
      value: Buffer.isBuffer(value) ? value : JSON.stringify(value),
      ...(headers ? { headers } : {}),
    });
  }

  /** Adds a message already addressed to its physical topic. */
  push(message: OutgoingMessage): void {
    const list = this.byTopic.get(message.topic);
    if (list) list.push(message);
    else this.byTopic.set(message.topic, [message]);
  }

  audit(fields: Parameters<typeof newAuditEvent>[0]): void {
    const event: AuditEvent = newAuditEvent(fields);
    this.add('audit', event.tenant_id ?? 'unattributed', event);
  }

  /** The messages in produce requests of at most `maxBytes` of values each (messaging's rule). */
  chunks(maxBytes = MAX_PRODUCE_REQUEST_BYTES): OutgoingMessage[][] {
    return produceRequests([...this.byTopic.values()].flat(), maxBytes);
  }

  /** Appends another outbox's messages after this one's (per topic, in order). */
  absorb(other: BatchMessages): void {
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
