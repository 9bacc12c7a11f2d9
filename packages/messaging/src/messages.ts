/** Header values as they travel: a string or bytes (Kafka allows a header name more than once). */
export type MessageHeaders = Record<string, Buffer | string | Array<Buffer | string> | undefined>;

/** Headers of a consumed record: a header sent without a value arrives as null (kafkajs's types omit it). */
export type ReceivedHeaders = Record<string, Buffer | string | null | Array<Buffer | string | null> | undefined>;

/** A header's (first) value as text; undefined when the message has none by that name, or one without a value. */
export function header(headers: ReceivedHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined || one === null ? undefined : one.toString();
}

/** A message to publish on a physical topic. */
export interface OutgoingMessage {
  topic: string;
  key: string | Buffer | null;
  value: string | Buffer;
  headers?: MessageHeaders;
}

/** A consumed record. */
export interface IncomingMessage {
  key: Buffer | null;
  value: Buffer | null;
  headers?: ReceivedHeaders | undefined;
  offset: string;
  timestamp: string;
}

/** Where a consumed record came from, as the dlq and logs name it (`topic/partition@offset`). */
export interface MessageSource {
  topic: string;
  partition: number;
  offset: string;
}

export const describeSource = (s: MessageSource): string => `${s.topic}/${s.partition}@${s.offset}`;
