import { describe, expect, it } from 'vitest';
import { deadLetter, DLQ_HEADER, DLQ_LIMITS, header, type MessageHeaders } from '../src/index.js';

const source = { topic: 'stepgate.audit', partition: 3, offset: '42' };
const letter = (original: Parameters<typeof deadLetter>[0]['original']) =>
  deadLetter({ topic: 'stepgate.dlq', original, source, reason: 'OVERSIZE', detail: 'x'.repeat(10_000) });

/** What the record weighs on the wire, near enough: key, value, header names and values. */
function bytesOf(m: ReturnType<typeof deadLetter>): number {
  let n = Buffer.byteLength(m.key ?? '') + Buffer.byteLength(m.value);
  for (const [name, v] of Object.entries(m.headers ?? {}))
    for (const x of Array.isArray(v) ? v : [v]) n += 8 + Buffer.byteLength(name) + Buffer.byteLength(x ?? '');
  return n;
}

describe('deadLetter', () => {
  it('keeps a small message whole, with its headers, the reason, a bounded detail and the source', () => {
    const m = letter({ key: Buffer.from('k'), value: Buffer.from('{"a":1}'), headers: { h: 'v', multi: ['a', 'b'] } });
    expect(m.value.toString()).toBe('{"a":1}');
    expect(m.key?.toString()).toBe('k');
    expect(m.headers).toMatchObject({
      h: 'v',
      multi: ['a', 'b'],
      [DLQ_HEADER.reason]: 'OVERSIZE',
      [DLQ_HEADER.source]: 'stepgate.audit/3@42',
    });
    expect(String(m.headers![DLQ_HEADER.detail])).toHaveLength(DLQ_LIMITS.detailChars);
    expect(m.headers).not.toHaveProperty(DLQ_HEADER.truncated);
    expect(m.headers).not.toHaveProperty(DLQ_HEADER.droppedHeaders);
  });

  it('a header sent without a value (null, as kafkajs hands it over) is left out, alone or in a list; header() reads it as missing', () => {
    const headers = { 'stepgate-key-id': null, multi: ['a', null], empty: [null], h: 'v' };
    const m = letter({ key: null, value: Buffer.from('{}'), headers });
    expect(m.headers).toMatchObject({ h: 'v', multi: ['a'] });
    expect(m.headers).not.toHaveProperty('stepgate-key-id');
    expect(m.headers).not.toHaveProperty('empty');
    expect(m.headers![DLQ_HEADER.droppedHeaders]).toBe('2: "stepgate-key-id", "empty"');
    expect([header(headers, 'stepgate-key-id'), header(headers, 'empty'), header(headers, 'multi')]).toEqual([
      undefined,
      undefined,
      'a',
    ]);
  });

  it('cuts an oversize value and key to their bounds and says so', () => {
    const m = letter({ key: Buffer.alloc(900_000, 1), value: Buffer.alloc(1_000_000, 0x5b), headers: {} });
    expect(m.value).toHaveLength(DLQ_LIMITS.valueBytes);
    expect(m.key).toHaveLength(DLQ_LIMITS.keyBytes);
    expect(m.headers![DLQ_HEADER.truncated]).toBe('value 1000000 key 900000');
  });

  it('drops oversize headers, headers past the total bound and forged dlq headers, naming them', () => {
    const headers: MessageHeaders = {
      big: Buffer.alloc(DLQ_LIMITS.headerBytes + 1),
      ['n'.repeat(5_000)]: 'v',
      [DLQ_HEADER.reason]: 'FORGED',
      ok: 'fine\u001b[2J',
      bigList: Array.from({ length: 200 }, () => 'x'.repeat(10)),
    };
    for (let i = 0; i < 5_000; i++) headers[`h${i}`] = 'y'.repeat(100);
    const m = letter({ key: null, value: Buffer.from('v'), headers });
    expect(m.headers![DLQ_HEADER.reason]).toBe('OVERSIZE');
    expect(m.headers).toHaveProperty('ok');
    expect(m.headers).not.toHaveProperty('big');
    expect(m.headers).not.toHaveProperty('bigList');
    expect(Object.keys(m.headers!).some((k) => k.length > 100)).toBe(false);
    const dropped = String(m.headers![DLQ_HEADER.droppedHeaders]);
    expect(dropped).toMatch(/^\d+: "big", "n{32}", "stepgate-dlq-reason", "bigList"/);
    expect(Number(dropped.split(':')[0])).toBeGreaterThan(4_800);
    expect(dropped.length).toBeLessThan(1_000);
  });

  it('every dead letter fits well inside the broker default of 1 MiB, whatever arrived', () => {
    const headers: MessageHeaders = {};
    for (let i = 0; i < 100_000; i++) headers[String(i)] = '';
    const m = letter({
      key: Buffer.from('k'.repeat(1_000_000)),
      value: Buffer.alloc(10 * 1024 * 1024),
      headers: { ...headers, huge: ['z'.repeat(900_000)] },
    });
    expect(bytesOf(m)).toBeLessThan(100 * 1024);
  });
});
