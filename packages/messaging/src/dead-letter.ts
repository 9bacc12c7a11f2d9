import {
  describeSource,
  type IncomingMessage,
  type MessageHeaders,
  type ReceivedHeaders,
  type MessageSource,
  type OutgoingMessage,
} from './messages.js';

/** Headers a dead letter carries besides the original's: why, in detail, where it came from, and what was cut. */
export const DLQ_HEADER = {
  reason: 'stepgate-dlq-reason',
  detail: 'stepgate-dlq-detail',
  source: 'stepgate-dlq-source',
  /** Set when the value or key was cut: `value <original bytes> key <original bytes>`. */
  truncated: 'stepgate-dlq-truncated',
  /** Set when original headers were left out: how many, and the first bytes of their names. */
  droppedHeaders: 'stepgate-dlq-dropped-headers',
} as const;

/**
 * Bounds of a dead letter, so that whatever arrived, its dlq record fits the broker's default
 * 1 MiB message limit (at most about 64 + 1 + 16 + 3 KiB here) and the dlq can never refuse it.
 */
export const DLQ_LIMITS = {
  /** Bytes of the original value kept. */
  valueBytes: 64 * 1024,
  /** Bytes of the original key kept. */
  keyBytes: 1024,
  /** One original header (name and values) larger than this is dropped. */
  headerBytes: 1024,
  /** All original headers kept, together; those past it are dropped. */
  headersBytes: 16 * 1024,
  detailChars: 500,
} as const;

export interface DeadLetter {
  /** The physical dlq topic. */
  topic: string;
  original: Pick<IncomingMessage, 'key' | 'value' | 'headers'>;
  source: MessageSource;
  reason: string;
  detail: string;
}

/**
 * The dlq record for a message no consumer could answer: its bytes and headers, with the reason —
 * value and key cut to DLQ_LIMITS, oversize headers dropped, each cut named in a header.
 */
export function deadLetter(d: DeadLetter): OutgoingMessage {
  const value = d.original.value ?? Buffer.alloc(0);
  const key = d.original.key;
  const keyBytes = key ? Buffer.byteLength(key) : 0;
  const cut = value.length > DLQ_LIMITS.valueBytes || keyBytes > DLQ_LIMITS.keyBytes;
  const { kept, dropped } = boundedHeaders(d.original.headers);
  return {
    topic: d.topic,
    key: key && keyBytes > DLQ_LIMITS.keyBytes ? key.subarray(0, DLQ_LIMITS.keyBytes) : key,
    value: value.length > DLQ_LIMITS.valueBytes ? value.subarray(0, DLQ_LIMITS.valueBytes) : value,
    headers: {
      ...kept,
      [DLQ_HEADER.reason]: d.reason.slice(0, 64),
      [DLQ_HEADER.detail]: d.detail.slice(0, DLQ_LIMITS.detailChars),
      [DLQ_HEADER.source]: describeSource(d.source),
      ...(cut ? { [DLQ_HEADER.truncated]: `value ${value.length} key ${keyBytes}` } : {}),
      ...(dropped.length
        ? {
            [DLQ_HEADER.droppedHeaders]: `${dropped.length}: ${dropped
              .slice(0, 16)
              .map((n) => JSON.stringify(n.slice(0, 32)))
              .join(', ')}`,
          }
        : {}),
    },
  };
}

/** Bytes counted per header besides its name and value (about Kafka's record framing of one). */
const HEADER_OVERHEAD = 8;
const OWN_HEADERS: ReadonlySet<string> = new Set(Object.values(DLQ_HEADER));

/** The original headers within DLQ_LIMITS, in their order, and the names of those left out. */
function boundedHeaders(headers: ReceivedHeaders | undefined): { kept: MessageHeaders; dropped: string[] } {
  const kept: MessageHeaders = {};
  const dropped: string[] = [];
  let total = 0;
  for (const [name, given] of Object.entries(headers ?? {})) {
    // A header sent without a value arrives as null: nothing to keep of it.
    const v = Array.isArray(given) ? given.filter((x) => x !== null) : given;
    if (v === undefined) continue;
    if (v === null || (Array.isArray(v) && v.length === 0)) {
      dropped.push(name);
      continue;
    }
    // A header of ours in the original would be overwritten: drop it visibly instead.
    if (OWN_HEADERS.has(name)) {
      dropped.push(name);
      continue;
    }
    // Each header also costs its record framing: many empty ones add up too.
    const size = (Array.isArray(v) ? v : [v]).reduce(
      (n, x) => n + HEADER_OVERHEAD + Buffer.byteLength(name) + Buffer.byteLength(x),
      0,
    );
    if (size > DLQ_LIMITS.headerBytes || total + size > DLQ_LIMITS.headersBytes) {
      dropped.push(name);
      continue;
    }
    total += size;
    kept[name] = v;
  }
  return { kept, dropped };
}
