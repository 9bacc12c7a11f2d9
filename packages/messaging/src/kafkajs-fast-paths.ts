// Four of kafkajs 2.2.4's producer internals, replaced with cheaper equivalents before kafkajs loads
// them (kafkajs is unmaintained upstream; profiles of the evaluator: issue 23):
//
// - `producer/groupMessagesPerPartition` copies a partition's array for each message it appends
//   (quadratic in the messages per partition of one send): here each array is appended to in place.
// - `protocol/recordBatch/crc32C`, the checksum of every record batch produced, is a byte-at-a-time
//   JavaScript loop: here it is `@node-rs/crc32` (SSE4.2 / ARMv8 CRC instructions, prebuilt per
//   platform), kafkajs's own loop when that addon does not load.
// - `protocol/encoder`, which every request, record and header is written with, starts each one in a
//   zero-filled `Buffer.alloc(512)` of its own and grows it the same way, and writes each varint
//   through an array and a `Buffer.from` of it: a produced message with its signature headers made
//   half a dozen ArrayBuffers, each tracked by V8's collector as external memory. Here its buffers come
//   from `Buffer.allocUnsafe` (Node's shared pool below 4 KiB; every byte up to the encoder's offset is
//   written before it is read), and varints are written in place: the same bytes.
// - `producer/partitioners/default/murmur2`, the hash that picks a keyed message's partition, runs on
//   kafkajs's 64-bit Long objects (a dozen allocations per key): here it is the same 32-bit murmur2 on
//   Math.imul, as Java's Utils.murmur2 computes it (the low 32 bits, all the Long version returns).
//
// kafkajs's modules take these by `require` once, when they load, so the replacements go into
// Node's module cache first: every module of this package that imports kafkajs's values imports
// this one before it (packages/messaging/test/seam.test.ts checks it). If kafkajs was loaded before
// this package (another import of kafkajs first), nothing is replaced and `kafkajsFastPaths` says so.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The kafkajs version these replacements were checked against (its internals are not an API). */
export const KAFKAJS_VERSION = '2.2.4';

const GROUPING = 'kafkajs/src/producer/groupMessagesPerPartition.js';
const CRC32C = 'kafkajs/src/protocol/recordBatch/crc32C/index.js';
const ENCODER = 'kafkajs/src/protocol/encoder.js';
const MURMUR2 = 'kafkajs/src/producer/partitioners/default/murmur2.js';
/** kafkajs modules that take the replaced ones when they load: loaded already, kafkajs was loaded before this file. */
const TAKERS = [
  'kafkajs/src/producer/sendMessages.js',
  'kafkajs/src/protocol/recordBatch/v0/index.js',
  'kafkajs/src/producer/partitioners/default/index.js',
];

export interface KafkajsFastPaths {
  /** Whether kafkajs's producer runs the replacements. */
  active: boolean;
  /** The record batch checksum in use. */
  crc32c: 'native' | 'kafkajs';
  /** Why they are not active, when not. */
  reason?: string;
}

export interface PartitionGrouping<M> {
  topic: string;
  partitionMetadata: readonly unknown[];
  messages: readonly M[];
  partitioner: (args: { topic: string; partitionMetadata: readonly unknown[]; message: M }) => number;
}

/**
 * kafkajs's `groupMessagesPerPartition`, linear: the same object (partition → its messages in send
 * order), the same partitioner calls in the same order.
 */
export function groupMessagesPerPartition<M>({
  topic,
  partitionMetadata,
  messages,
  partitioner,
}: PartitionGrouping<M>): Record<number, M[]> {
  const result: Record<number, M[]> = {};
  if (partitionMetadata.length === 0) return result;
  for (const message of messages) {
    const partition = partitioner({ topic, partitionMetadata, message });
    const current = result[partition];
    if (current === undefined) result[partition] = [message];
    else current.push(message);
  }
  return result;
}

/** What this file relies on of kafkajs's Encoder (protocol/encoder.js). */
export interface KafkajsEncoderClass {
  new (initialSize?: number): KafkajsEncoder;
  nextPowerOfTwo(value: number): number;
  prototype: KafkajsEncoder;
}
export interface KafkajsEncoder {
  buf: Buffer;
  offset: number;
  ensureAvailable(length: number): void;
  writeUVarInt(value: number): KafkajsEncoder;
  readonly buffer: Buffer;
}

/** Most bytes of an unsigned varint of 32 bits. */
const UVARINT32_MOST_BYTES = 5;

/**
 * kafkajs's Encoder with buffers that are not zero-filled (pooled when small) and varints written in
 * place. Its instances are kafkajs Encoders (same prototype chain, statics inherited): the same methods
 * write the same bytes.
 */
export function fastEncoder(Encoder: KafkajsEncoderClass): KafkajsEncoderClass {
  const prototype = Object.create(Encoder.prototype) as KafkajsEncoder;
  prototype.ensureAvailable = function (this: KafkajsEncoder, length: number): void {
    if (this.offset + length <= this.buf.length) return;
    const grown = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(this.offset + length));
    this.buf.copy(grown, 0, 0, this.offset);
    this.buf = grown;
  };
  prototype.writeUVarInt = function (this: KafkajsEncoder, value: number): KafkajsEncoder {
    this.ensureAvailable(UVARINT32_MOST_BYTES);
    const { buf } = this;
    // As kafkajs's loop: 7 bits a byte, low first, the high bit set on all but the last.
    while ((value & 0xffffff80) !== 0) {
      buf[this.offset++] = (value & 0x7f) | 0x80;
      value >>>= 7;
    }
    buf[this.offset++] = value & 0x7f;
    return this;
  };
  function FastEncoder(this: KafkajsEncoder, initialSize = 511): void {
    this.buf = Buffer.allocUnsafe(Encoder.nextPowerOfTwo(initialSize));
    this.offset = 0;
  }
  FastEncoder.prototype = prototype;
  Object.defineProperty(prototype, 'constructor', { value: FastEncoder, writable: true, configurable: true });
  Object.setPrototypeOf(FastEncoder, Encoder); // its static helpers
  return FastEncoder as unknown as KafkajsEncoderClass;
}

const MURMUR2_SEED = 0x9747b28c;
const MURMUR2_M = 0x5bd1e995;

/**
 * Kafka's murmur2 of a message key (a Buffer, or anything else as its String's UTF-8), as a signed
 * 32-bit integer: kafkajs's `murmur2` without its Long arithmetic, which the default partitioner
 * turns into the key's partition. The same partitions as every Kafka client using murmur2.
 */
export function murmur2(key: unknown): number {
  if (Buffer.isBuffer(key)) return murmur2Of(key, key.length);
  const text = String(key);
  // A key's text is UTF-8 encoded into scratch space rather than a Buffer of its own per message.
  if (text.length * 3 <= KEY_SCRATCH.length) return murmur2Of(KEY_SCRATCH, KEY_SCRATCH.write(text, 0));
  const data = Buffer.from(text);
  return murmur2Of(data, data.length);
}

/** Room for keys of up to 1,365 UTF-16 units (UTF-8 takes at most 3 bytes per unit). */
const KEY_SCRATCH = Buffer.alloc(4096);

function murmur2Of(data: Buffer, length: number): number {
  let h = MURMUR2_SEED ^ length;
  const words = length >>> 2;
  for (let i = 0; i < words; i++) {
    const at = i * 4;
    let k = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16) | (data[at + 3]! << 24);
    k = Math.imul(k, MURMUR2_M);
    k ^= k >>> 24;
    k = Math.imul(k, MURMUR2_M);
    h = Math.imul(h, MURMUR2_M) ^ k;
  }
  const tail = length & ~3;
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2]! << 16;
    // falls through
    case 2:
      h ^= data[tail + 1]! << 8;
    // falls through
    case 1:
      h ^= data[tail]!;
      h = Math.imul(h, MURMUR2_M);
  }
  h ^= h >>> 13;
  h = Math.imul(h, MURMUR2_M);
  h ^= h >>> 15;
  return h | 0;
}

/** CRC-32C of the bytes from `@node-rs/crc32`, or undefined when its addon does not load here. */
export function nativeCrc32c(): ((buffer: Uint8Array) => number) | undefined {
  try {
    const { crc32c } = require('@node-rs/crc32') as { crc32c: (input: Uint8Array) => number };
    // The check value of CRC-32C (RFC 3720): a binding that gets it wrong is not used.
    if (crc32c(Buffer.from('123456789')) !== 0xe3069283) return undefined;
    return (buffer) => crc32c(buffer);
  } catch {
    return undefined;
  }
}

function install(): KafkajsFastPaths {
  const { version } = require('kafkajs/package.json') as { version: string };
  if (version !== KAFKAJS_VERSION)
    return { active: false, crc32c: 'kafkajs', reason: `kafkajs ${version}, not ${KAFKAJS_VERSION}` };
  const loaded = TAKERS.filter((m) => require.cache[require.resolve(m)] !== undefined);
  if (loaded.length > 0)
    return { active: false, crc32c: 'kafkajs', reason: `kafkajs was loaded before @stepgate/messaging` };
  replaceExports(GROUPING, () => groupMessagesPerPartition);
  replaceExports(ENCODER, (own) => fastEncoder(own as KafkajsEncoderClass));
  replaceExports(MURMUR2, () => murmur2);
  const crc32c = nativeCrc32c();
  if (crc32c) replaceExports(CRC32C, () => crc32c);
  return { active: true, crc32c: crc32c ? 'native' : 'kafkajs' };
}

/** Puts `replace(kafkajs's own exports)` in place of a kafkajs module's exports in Node's module cache. */
function replaceExports(specifier: string, replace: (own: unknown) => unknown): void {
  const file = require.resolve(specifier);
  const own: unknown = require(file); // kafkajs's own module into the cache (it has no side effects)
  const cached = require.cache[file];
  if (!cached) throw new Error(`kafkajs fast paths: ${specifier} is not in the module cache`);
  cached.exports = replace(own);
}

/** What `import`ing this module did: read it to know whether the replacements are in use. */
export const kafkajsFastPaths: Readonly<KafkajsFastPaths> = Object.freeze(install());
