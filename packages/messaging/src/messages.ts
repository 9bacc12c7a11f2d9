/** Header values as they travel: a string or bytes (Kafka allows a header name more than once). */
export type MessageHeaders = Record<string, Buffer | string | Array<Buffer | string> | undefined>;

/** A header's (first) value as text; undefined when the message has none by that name. */
export function header(headers: MessageHeaders | undefined, name: string): string | undefined {
  const v = headers?.[name];
  const one = Array.isArray(v) ? v[0] : v;
  return one === undefined ? undefined : one.toString();
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
  headers?: MessageHeaders | undefined;
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
