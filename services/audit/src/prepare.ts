import * as crypto from 'node:crypto';
import { canonicalAuditEvent, type AuditEvent, type DlqReason } from '@stepgate/contracts';
import { UNATTRIBUTED_TENANT } from '@stepgate/audit-log';
import { copyLineHead } from './copy-text.js';
import { readAuditEvent } from './intake.js';

/**
 * Audit events made ready to chain and store, as bytes: for each event, a 64-byte space for the
 * previous row's hash, a newline and the event's RFC 8785 form (what its row hash covers, once the
 * space holds the previous hash), then its COPY line up to `seq`. What is left for the writer is one
 * SHA-256 and three columns per event. The work (parsing, checking, canonicalising, encoding) can run
 * on a worker thread (see preparer.ts): this is the form a batch crosses threads in.
 */
export interface PreparedBatch {
  bytes: Uint8Array;
  /** Four numbers per prepared event: its index among the values given, where its hash input starts, where its COPY line head starts and ends. */
  spans: Uint32Array;
  ids: string[];
  timestamps: string[];
  tenants: string[];
  /** Values that are not storable audit events: their index and why. */
  rejected: Array<{ index: number; reason: DlqReason; detail: string }>;
}

/** One prepared event, a view into its batch's bytes. */
export interface PreparedEvent {
  /** Its index among the values (or events) prepared together. */
  index: number;
  id: string;
  timestamp: string;
  /** The chain it extends (`_unattributed` for an event without a tenant). */
  tenantId: string;
  bytes: Buffer;
  /** bytes[hashAt, hashAt + 64) is the space for the previous hash, then a newline and the canonical event up to lineAt. */
  hashAt: number;
  lineAt: number;
  lineEnd: number;
}

const PREV_HASH_BYTES = 64;
/** Bytes of an event's prepared form besides its text twice: the previous hash's space and newline, the COPY line's other columns. */
const PER_EVENT_BYTES = 512;
const NEWLINE = 0x0a;

/** A growing byte buffer that strings are UTF-8 encoded into. */
class ByteWriter {
  buffer: Buffer;
  at = 0;
  constructor(
    capacity: number,
    private readonly spare: BufferSource,
  ) {
    this.buffer = Buffer.from(spare.take(Math.max(capacity, 4096)));
  }
  private room(bytes: number): void {
    if (this.at + bytes <= this.buffer.length) return;
    const grown = Buffer.from(this.spare.take(Math.max(this.buffer.length * 2, this.at + bytes)));
    this.buffer.copy(grown, 0, 0, this.at);
    this.spare.give(this.buffer.buffer as ArrayBuffer);
    this.buffer = grown;
  }
  text(s: string): void {
    this.room(s.length * 3); // UTF-8 takes at most 3 bytes per UTF-16 code unit
    this.at += this.buffer.write(s, this.at);
  }
  skip(bytes: number): void {
    this.room(bytes);
    this.at += bytes;
  }
  byte(b: number): void {
    this.room(1);
    this.buffer[this.at++] = b;
  }
}

/** Collects prepared events (the same encoding whether on a worker thread or the caller's). */
class BatchWriter {
  private readonly out: ByteWriter;
  private readonly spans: number[] = [];
  readonly ids: string[] = [];
  readonly timestamps: string[] = [];
  readonly tenants: string[] = [];
  readonly rejected: PreparedBatch['rejected'] = [];

  constructor(capacity: number, spare: BufferSource) {
    this.out = new ByteWriter(capacity, spare);
  }

  /** Throws, having written nothing, when the event has no canonical form (e.g. a number JSON.parse made Infinity). */
  add(index: number, event: AuditEvent): void {
    const tenantId = event.tenant_id ?? UNATTRIBUTED_TENANT;
    const canonical = canonicalAuditEvent(event);
    const head = copyLineHead(event, tenantId, canonical);
    const hashAt = this.out.at;
    this.out.skip(PREV_HASH_BYTES);
    this.out.byte(NEWLINE);
    this.out.text(canonical);
    const lineAt = this.out.at;
    this.out.text(head);
    this.spans.push(index, hashAt, lineAt, this.out.at);
    this.ids.push(event.id);
    this.timestamps.push(event.timestamp);
    this.tenants.push(tenantId);
  }

  batch(): PreparedBatch {
    return {
      bytes: new Uint8Array(this.out.buffer.buffer, this.out.buffer.byteOffset, this.out.at),
      spans: Uint32Array.from(this.spans),
      ids: this.ids,
      timestamps: this.timestamps,
      tenants: this.tenants,
      rejected: this.rejected,
    };
  }
}

/**
 * Where a batch's bytes come from: whole ArrayBuffers, at least the size asked for. A buffer given
 * back may be taken again: a thread that prepares batch after batch reuses the same few large
 * buffers instead of allocating megabytes per batch (which, counted as external memory, bring
 * V8's full collections forward for the whole heap).
 */
export interface BufferSource {
  take(bytes: number): ArrayBuffer;
  give(buffer: ArrayBuffer): void;
}

/** Fresh buffers every time. */
export const FRESH_BUFFERS: BufferSource = {
  take: (bytes) => Buffer.allocUnsafeSlow(bytes).buffer,
  give: () => undefined,
};

/** Keeps up to `keep` buffers given back, and hands them out again (sizes rounded up to a multiple of `least`). */
export class BufferPool implements BufferSource {
  private readonly free: ArrayBuffer[] = [];
  constructor(
    private readonly keep = 8,
    private readonly least = 1 << 20,
  ) {}
  take(bytes: number): ArrayBuffer {
    for (let i = 0; i < this.free.length; i++) if (this.free[i]!.byteLength >= bytes) return this.free.splice(i, 1)[0]!;
    return Buffer.allocUnsafeSlow(Math.max(1, Math.ceil(bytes / this.least)) * this.least).buffer;
  }
  give(buffer: ArrayBuffer): void {
    if (buffer.byteLength === 0 || this.free.length >= this.keep) return; // 0: detached (transferred)
    this.free.push(buffer);
  }
}

/** Reads and prepares raw `audit` values (readAuditEvent decides what is an event; `now`: its time window's clock). */
export function prepareValues(
  values: ReadonlyArray<Uint8Array | null>,
  now: number,
  spare: BufferSource = FRESH_BUFFERS,
): PreparedBatch {
  let size = 0;
  for (const v of values) size += v?.length ?? 0;
  // About what the events take: each value's text twice (its canonical form, its COPY line) and the
  // previous hash's space and the line's other columns; the writer grows if not enough.
  const writer = new BatchWriter(size * 2 + values.length * PER_EVENT_BYTES, spare);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    const read = readAuditEvent(v ? Buffer.from(v.buffer, v.byteOffset, v.length) : null, now);
    if (!read.ok) {
      writer.rejected.push({ index: i, reason: read.reason, detail: read.detail });
      continue;
    }
    try {
      writer.add(i, read.event);
    } catch (err) {
      // Valid by the schema yet not storable: this event to the dlq, never the slice held up by it.
      const why = err instanceof Error ? err.message : String(err);
      writer.rejected.push({ index: i, reason: 'INVALID_AUDIT_EVENT', detail: `not storable: ${why}`.slice(0, 200) });
    }
  }
  return writer.batch();
}

/** Prepares audit events already read (on the calling thread). */
export function prepareEvents(events: readonly AuditEvent[]): PreparedEvent[] {
  const writer = new BatchWriter(events.length * 2048, FRESH_BUFFERS);
  events.forEach((e, i) => writer.add(i, e));
  return preparedEvents(writer.batch());
}

/** The events of a prepared batch. */
export function preparedEvents(batch: PreparedBatch): PreparedEvent[] {
  const bytes = Buffer.from(batch.bytes.buffer, batch.bytes.byteOffset, batch.bytes.length);
  const { spans } = batch;
  const events = new Array<PreparedEvent>(batch.ids.length);
  for (let i = 0; i < events.length; i++)
    events[i] = {
      index: spans[4 * i]!,
      id: batch.ids[i]!,
      timestamp: batch.timestamps[i]!,
      tenantId: batch.tenants[i]!,
      bytes,
      hashAt: spans[4 * i + 1]!,
      lineAt: spans[4 * i + 2]!,
      lineEnd: spans[4 * i + 3]!,
    };
  return events;
}

const HASH_TEXT = /^[\x20-\x7e]{64}$/;

/**
 * The event's row hash after `prevHash`: SHA-256 of prevHash, a newline and the canonical event (the
 * same bytes audit-log's rowHash hashes). A 64-character ASCII prevHash (every hash this code makes,
 * and the genesis) is written into the event's space and hashed in place with the rest.
 */
export function preparedRowHash(event: PreparedEvent, prevHash: string): string {
  const { bytes, hashAt, lineAt } = event;
  if (HASH_TEXT.test(prevHash)) {
    bytes.write(prevHash, hashAt, PREV_HASH_BYTES, 'latin1');
    return sha256Hex(bytes.subarray(hashAt, lineAt));
  }
  return crypto
    .createHash('sha256')
    .update(`${prevHash}\n`)
    .update(bytes.subarray(hashAt + PREV_HASH_BYTES + 1, lineAt))
    .digest('hex');
}

const sha256Hex: (bytes: Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (bytes) => crypto.hash('sha256', bytes, 'hex')
    : (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
