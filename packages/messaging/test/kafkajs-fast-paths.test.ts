import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { compileFunction } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import {
  fastEncoder,
  groupMessagesPerPartition,
  murmur2,
  nativeCrc32c,
  type KafkajsEncoderClass,
} from '../src/kafkajs-fast-paths.js';

const require = createRequire(import.meta.url);
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

// kafkajs's own JavaScript CRC-32C (the inner module, which the fast paths never replace).
const kafkajsCrc32c = require('kafkajs/src/protocol/recordBatch/crc32C/crc32C.js') as (buffer: Buffer) => number;

type Grouping = typeof groupMessagesPerPartition<{ key: number }>;
type Partitioner = Parameters<Grouping>[0]['partitioner'];

/** kafkajs's own groupMessagesPerPartition, compiled from its file (its cache entry may be replaced). */
function kafkajsGrouping(): Grouping {
  return kafkajsModule('kafkajs/src/producer/groupMessagesPerPartition.js') as Grouping;
}

/** A kafkajs module's own exports, compiled from its file (its cache entry may be replaced). */
function kafkajsModule(specifier: string): unknown {
  const file = require.resolve(specifier);
  const module = { exports: {} as unknown };
  const load = compileFunction(readFileSync(file, 'utf8'), ['module', 'exports', 'require'], {
    filename: file,
  }) as (module: object, exports: unknown, require: NodeJS.Require) => void;
  load(module, module.exports, createRequire(file));
  return module.exports;
}

describe('CRC-32C from @node-rs/crc32', () => {
  const crc32c = nativeCrc32c();

  it('loads here (linux-x64 has a prebuilt addon)', () => {
    if (process.platform === 'linux' && process.arch === 'x64') expect(crc32c).toBeDefined();
  });

  it('gives the known vectors (RFC 3720 B.4, the check value) as kafkajs does', () => {
    const vectors: Array<[Buffer, number]> = [
      [Buffer.alloc(0), 0],
      [Buffer.from('123456789'), 0xe3069283],
      [Buffer.alloc(32, 0x00), 0x8a9136aa],
      [Buffer.alloc(32, 0xff), 0x62a8ab43],
      [Buffer.from(Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e],
      [Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c],
    ];
    for (const [bytes, expected] of vectors) {
      expect(kafkajsCrc32c(bytes)).toBe(expected);
      expect(crc32c?.(bytes)).toBe(expected);
    }
  });

  it('matches kafkajs on random buffers, sub-buffers included', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70_000 }), fc.nat(64), (bytes, skip) => {
        const buffer = Buffer.from(bytes);
        const sub = buffer.subarray(Math.min(skip, buffer.length));
        expect(crc32c?.(buffer)).toBe(kafkajsCrc32c(buffer));
        expect(crc32c?.(sub)).toBe(kafkajsCrc32c(sub));
      }),
      { numRuns: 300 },
    );
  });
});

describe('groupMessagesPerPartition', () => {
  const original = kafkajsGrouping();

  it('groups as kafkajs does, keeping each partition in send order', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 12 }), fc.array(fc.nat(1_000), { maxLength: 500 }), (partitions, keys) => {
        const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i }));
        const messages = keys.map((key) => ({ key }));
        const calls: unknown[] = [];
        const partitioner: Partitioner = (args) => {
          calls.push(args.message);
          return args.message.key % Math.max(partitions, 1);
        };
        const expected = original({ topic: 't', partitionMetadata, messages, partitioner });
        const expectedCalls = calls.splice(0);
        const got = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner });
        expect(got).toEqual(expected);
        expect(Object.keys(got)).toEqual(Object.keys(expected));
        expect(calls).toEqual(expectedCalls);
        for (const list of Object.values(got)) {
          const sent = list.map((m) => messages.indexOf(m));
          expect(sent).toEqual([...sent].sort((a, b) => a - b));
        }
      }),
      { numRuns: 300 },
    );
  });
});

/** The writes of kafkajs's Encoder the test makes (protocol/encoder.js). */
interface EncoderWrites {
  writeInt8(v: number): EncoderWrites;
  writeInt16(v: number): EncoderWrites;
  writeInt32(v: number): EncoderWrites;
  writeInt64(v: string): EncoderWrites;
  writeVarInt(v: number): EncoderWrites;
  writeUVarInt(v: number): EncoderWrites;
  writeVarLong(v: string): EncoderWrites;
  writeString(v: string): EncoderWrites;
  writeVarIntString(v: string): EncoderWrites;
  writeBytes(v: Buffer): EncoderWrites;
  writeVarIntBytes(v: Buffer | null): EncoderWrites;
  writeArray(v: string[]): EncoderWrites;
  writeUInt32(v: number): EncoderWrites;
  writeDouble(v: number): EncoderWrites;
  writeBoolean(v: boolean): EncoderWrites;
  writeUVarIntString(v: string | null): EncoderWrites;
  writeUVarIntBytes(v: Buffer | null): EncoderWrites;
  writeEncoder(v: EncoderWrites): EncoderWrites;
  writeEncoderArray(v: EncoderWrites[]): EncoderWrites;
  writeVarIntArray(v: EncoderWrites[], type?: 'object'): EncoderWrites;
  writeUVarIntArray(v: EncoderWrites[] | null, type?: 'object'): EncoderWrites;
  readonly buffer: Buffer;
}

describe("kafkajs's Encoder with unzeroed, pooled buffers and in-place varints", () => {
  const Encoder = kafkajsModule('kafkajs/src/protocol/encoder.js') as KafkajsEncoderClass;
  const Fast = fastEncoder(Encoder);
  const encoder = (E: KafkajsEncoderClass, size?: number) => new E(size) as unknown as EncoderWrites;
  const int32 = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
  const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);
  const bytes = fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b));
  const text = fc.string({ unit: 'binary', maxLength: 300 });
  const write = fc.oneof(
    fc.integer({ min: -128, max: 127 }).map((v) => (e: EncoderWrites) => e.writeInt8(v)),
    fc.integer({ min: -(2 ** 15), max: 2 ** 15 - 1 }).map((v) => (e: EncoderWrites) => e.writeInt16(v)),
    int32.map((v) => (e: EncoderWrites) => e.writeInt32(v)),
    int64.map((v) => (e: EncoderWrites) => e.writeInt64(v)),
    int32.map((v) => (e: EncoderWrites) => e.writeVarInt(v)),
    int32.map((v) => (e: EncoderWrites) => e.writeUVarInt(v)),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((v) => (e: EncoderWrites) => e.writeUVarInt(v)),
    int64.map((v) => (e: EncoderWrites) => e.writeVarLong(v)),
    text.map((v) => (e: EncoderWrites) => e.writeString(v)),
    text.map((v) => (e: EncoderWrites) => e.writeVarIntString(v)),
    bytes.map((v) => (e: EncoderWrites) => e.writeBytes(v)),
    fc.option(bytes).map((v) => (e: EncoderWrites) => e.writeVarIntBytes(v)),
    fc.array(text, { maxLength: 5 }).map((v) => (e: EncoderWrites) => e.writeArray(v)),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }).map((v) => (e: EncoderWrites) => e.writeUInt32(v)),
    fc.double().map((v) => (e: EncoderWrites) => e.writeDouble(v)),
    fc.boolean().map((v) => (e: EncoderWrites) => e.writeBoolean(v)),
    fc.option(text).map((v) => (e: EncoderWrites) => e.writeUVarIntString(v)),
    fc.option(bytes).map((v) => (e: EncoderWrites) => e.writeUVarIntBytes(v)),
  );
  /** Writes that nest encoders of the same class (a request's records, a record's headers). */
  const nestedWrite = fc
    .tuple(fc.array(fc.array(write, { maxLength: 6 }), { maxLength: 4 }), fc.constantFrom(0, 1, 2, 3))
    .map(([inner, how]) => (e: EncoderWrites, E: KafkajsEncoderClass) => {
      const parts = inner.map((writes) => {
        const part = encoder(E);
        for (const w of writes) w(part);
        return part;
      });
      if (how === 0) e.writeEncoderArray(parts);
      else if (how === 1) e.writeVarIntArray(parts, 'object');
      else if (how === 2) e.writeUVarIntArray(parts, 'object');
      else for (const part of parts) e.writeEncoder(part);
    });
  const anyWrite = fc.oneof(
    write.map((w) => (e: EncoderWrites) => void w(e)),
    nestedWrite,
  );

  /** Buffer.allocUnsafe handing out bytes of 0xa5, as reused memory would: a byte an encoder never writes shows. */
  function withPoisonedBuffers<T>(run: () => T): T {
    const allocUnsafe = Buffer.allocUnsafe.bind(Buffer);
    const spy = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size) => allocUnsafe(size).fill(0xa5));
    try {
      return run();
    } finally {
      spy.mockRestore();
    }
  }

  it("writes the same bytes as kafkajs's own for any sequence of writes, at any initial size", () => {
    fc.assert(
      fc.property(fc.array(anyWrite, { maxLength: 40 }), fc.option(fc.nat(5000)), (writes, size) => {
        const own = encoder(Encoder, size ?? undefined);
        for (const w of writes) w(own, Encoder);
        const fast = withPoisonedBuffers(() => {
          const e = encoder(Fast, size ?? undefined);
          for (const w of writes) w(e, Fast);
          return e.buffer;
        });
        expect(fast.equals(own.buffer)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('leaves no byte unwritten: poisoned buffers change nothing', () => {
    const withVarInts = (E: KafkajsEncoderClass) =>
      encoder(E, 8).writeEncoder(encoder(E).writeVarIntBytes(Buffer.alloc(2000, 7)).writeUVarInt(300)).buffer;
    expect(withPoisonedBuffers(() => withVarInts(Fast)).equals(withVarInts(Encoder))).toBe(true);
    // The poison shows where a write is skipped: the check above can fail.
    const skipped = withPoisonedBuffers(() => {
      const e = new Fast() as unknown as { offset: number; buffer: Buffer };
      e.offset = 4;
      return e.buffer;
    });
    expect([...skipped]).toEqual([0xa5, 0xa5, 0xa5, 0xa5]);
  });

  it('its encoders are kafkajs Encoders, with its static helpers', () => {
    expect(new Fast()).toBeInstanceOf(Encoder);
    expect(Fast.nextPowerOfTwo(600)).toBe(1024);
  });
});

describe('murmur2 on Math.imul', () => {
  const kafkajsMurmur2 = kafkajsModule('kafkajs/src/producer/partitioners/default/murmur2.js') as (
    key: unknown,
  ) => number;

  it("gives the Java client's values (org.apache.kafka.common.utils.UtilsTest#testMurmur2)", () => {
    const vectors: Array<[string, number]> = [
      ['21', -973932308],
      ['abc', 479470107],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ];
    for (const [key, value] of vectors) {
      expect(murmur2(Buffer.from(key))).toBe(value);
      expect(murmur2(key)).toBe(value);
    }
  });

  it("equals kafkajs's own at the scratch space's bounds (1,365 UTF-16 units, 4,096 bytes)", () => {
    for (const key of [
      '€'.repeat(1365),
      '€'.repeat(1366),
      '\ud800'.repeat(1365),
      '\ud800'.repeat(1366),
      'a'.repeat(1365),
      'a'.repeat(1366),
      'a'.repeat(4096),
      '',
    ])
      expect(murmur2(key)).toBe(kafkajsMurmur2(key));
  });

  it("equals kafkajs's own for any key: bytes, strings of any UTF-16 units, numbers", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
          fc.string({ unit: 'binary', maxLength: 100 }),
          fc.string({ unit: 'grapheme', maxLength: 40 }),
          // Any UTF-16 code unit, lone surrogates too ('binary' leaves them out).
          fc
            .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 60 })
            .map((units) => String.fromCharCode(...units)),
          fc.string({ unit: 'binary', minLength: 1300, maxLength: 1500 }), // past the scratch space too
          fc.double(),
          fc.integer(),
        ),
        (key) => {
          expect(murmur2(key)).toBe(kafkajsMurmur2(key));
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('installing the fast paths', () => {
  /** A fresh Node that runs `script` (an ES module, sources through tsx) in this package. */
  function fresh(script: string): unknown {
    const child = spawnSync(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', script],
      { cwd: PACKAGE_DIR, encoding: 'utf8' },
    );
    expect(child.stderr).toBe('');
    expect(child.status).toBe(0);
    return JSON.parse(child.stdout);
  }

  it('replaces the four modules when @stepgate/messaging is imported before anything else loads kafkajs', () => {
    const out = fresh(
      [
        "import { createRequire } from 'node:module';",
        "const { kafkajsFastPaths } = await import('@stepgate/messaging');",
        "const require = createRequire(process.cwd() + '/');",
        "const { groupMessagesPerPartition, murmur2 } = await import('./src/kafkajs-fast-paths.ts');",
        'console.log(JSON.stringify({',
        '  status: kafkajsFastPaths,',
        "  grouping: require('kafkajs/src/producer/groupMessagesPerPartition.js') === groupMessagesPerPartition,",
        "  crc: require('kafkajs/src/protocol/recordBatch/crc32C/index.js')(Buffer.from('123456789')),",
        "  encoder: require('kafkajs/src/protocol/encoder.js').name,",
        "  murmur2: require('kafkajs/src/producer/partitioners/default/murmur2.js') === murmur2,",
        '}));',
      ].join('\n'),
    );
    expect(out).toMatchObject({
      status: { active: true },
      grouping: true,
      crc: 0xe3069283,
      encoder: 'FastEncoder',
      murmur2: true,
    });
    if (process.platform === 'linux' && process.arch === 'x64')
      expect(out).toMatchObject({ status: { crc32c: 'native' } });
  }, 60_000); // a fresh Node that transpiles the sources: seconds, more on a busy host

  it('says so, and replaces nothing, when kafkajs was loaded first', () => {
    const out = fresh(
      [
        "await import('kafkajs');",
        "const { kafkajsFastPaths } = await import('@stepgate/messaging');",
        'console.log(JSON.stringify(kafkajsFastPaths));',
      ].join('\n'),
    );
    expect(out).toEqual({ active: false, crc32c: 'kafkajs', reason: 'kafkajs was loaded before @stepgate/messaging' });
  }, 60_000);
});
