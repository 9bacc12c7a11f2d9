import canonicalizeModule from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../src/index.js';

type Serialize = (input: unknown) => string | undefined;
const interop = canonicalizeModule as unknown as Serialize & { default?: Serialize };
const library: Serialize = interop.default ?? interop;

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const member of Object.values(value)) deepFreeze(member);
    Object.freeze(value);
  }
  return value;
}

const json = fc.jsonValue({ maxDepth: 4 });

describe('canonicalJson', () => {
  it('writes what the canonicalize library writes, for any JSON value', () => {
    fc.assert(
      fc.property(json, (value) => {
        expect(canonicalJson(value)).toBe(library(value));
      }),
      { numRuns: 500 },
    );
  });

  it('writes what the library writes for any JSON value with strings of any UTF-16 units (non-ASCII keys, their order, lone surrogates)', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 4, stringUnit: 'binary' }), (value) => {
        expect(canonicalJson(value)).toBe(library(value));
      }),
      { numRuns: 500 },
    );
  });

  it('orders keys by UTF-16 units, skips undefined and symbol members wherever they stand, and writes numbers as ES does', () => {
    expect(canonicalJson({ '\u{1F600}': 1, '\uFFFF': 2, é: 3, '10': 4, '9': 5 })).toBe(
      '{"10":4,"9":5,"é":3,"😀":1,"\uFFFF":2}',
    );
    expect(canonicalJson({ a: undefined, b: 1, c: Symbol('s'), d: 2 })).toBe('{"b":1,"d":2}');
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2}');
    expect(canonicalJson([-0, 1e21, 1e-7])).toBe('[0,1e+21,1e-7]');
  });

  it('writes the same text for known keys after any number of distinct and long keys', () => {
    const known = { workflow_id: 'wf', step_id: 's' };
    const before = canonicalJson(known);
    for (let i = 0; i < 5_000; i++) canonicalJson({ [`k${i}`]: i, ['x'.repeat(100) + String(i)]: i });
    expect(canonicalJson(known)).toBe(before);
  });

  it('writes a deeply frozen value the same each time, alone or inside other values', () => {
    fc.assert(
      fc.property(json, json, (frozen, around) => {
        deepFreeze(frozen);
        const outer = { around, frozen, list: [frozen, around] };
        expect(canonicalJson(frozen)).toBe(library(frozen));
        expect(canonicalJson(outer)).toBe(library(outer));
        expect(canonicalJson(outer)).toBe(library(outer));
      }),
      { numRuns: 300 },
    );
  });

  it('does not reuse the text of an object that is frozen but holds one that is not', () => {
    const inner = { n: 1 };
    const shallow = Object.freeze({ inner });
    expect(canonicalJson(shallow)).toBe('{"inner":{"n":1}}');
    inner.n = 2;
    expect(canonicalJson(shallow)).toBe('{"inner":{"n":2}}');
  });

  it('does not reuse the text of a frozen object whose member is a getter, or whose prototype is not plain', () => {
    let x = 1;
    const withGetter = Object.freeze({
      get x() {
        return x;
      },
    });
    expect(canonicalJson(withGetter)).toBe('{"x":1}');
    x = 2;
    expect(canonicalJson(withGetter)).toBe('{"x":2}');
    class Point {
      constructor(readonly n: number) {}
    }
    const point = Object.freeze(new Point(1));
    expect(canonicalJson(point)).toBe('{"n":1}');
    Object.defineProperty(Point.prototype, 'toJSON', { value: () => 'point', configurable: true });
    expect(canonicalJson(point)).toBe('"point"');
  });

  it('writes holes as null and refuses a member without a JSON form', () => {
    // eslint-disable-next-line no-sparse-arrays
    expect(canonicalJson([1, , 2])).toBe('[1,null,2]');
    expect(() => canonicalJson([{ toJSON: () => undefined }])).toThrow(TypeError);
  });

  it('skips undefined members, writes undefined items as null, refuses what JSON cannot carry', () => {
    expect(canonicalJson({ b: undefined, a: [undefined, 1] })).toBe('{"a":[null,1]}');
    expect(() => canonicalJson(Number.NaN)).toThrow();
    expect(() => canonicalJson({ x: Infinity })).toThrow();
    expect(() => canonicalJson({ f: () => 1 })).toThrow(TypeError);
    expect(() => canonicalJson(undefined)).toThrow(TypeError);
  });

  it('writes a value with toJSON as its JSON form', () => {
    expect(canonicalJson({ at: new Date(0) })).toBe('{"at":"1970-01-01T00:00:00.000Z"}');
  });
});
