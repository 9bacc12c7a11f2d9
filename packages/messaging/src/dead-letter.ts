import { describeSource, type IncomingMessage, type MessageSource, type OutgoingMessage } from './messages.js';

/** Headers a dead letter carries besides the original's: why, in detail, and where it came from. */
export const DLQ_HEADER = {
  reason: 'stepgate-dlq-reason',
  detail: 'stepgate-dlq-detail',
  source: 'stepgate-dlq-source',
} as const;

const MAX_DETAIL_CHARS = 500;

export interface DeadLetter {
  /** The physical dlq topic. */
  topic: string;
  original: Pick<IncomingMessage, 'key' | 'value' | 'headers'>;
  source: MessageSource;
  reason: string;
  detail: string;
}

/** The dlq record for a message no consumer could answer: its bytes and headers, with the reason. */
export function deadLetter(d: DeadLetter): OutgoingMessage {
  return {
    topic: d.topic,
    key: d.original.key,
    value: d.original.value ?? Buffer.alloc(0),
    headers: {
      ...d.original.headers,
      [DLQ_HEADER.reason]: d.reason,
      [DLQ_HEADER.detail]: d.detail.slice(0, MAX_DETAIL_CHARS),
      [DLQ_HEADER.source]: describeSource(d.source),
    },
  };
}
