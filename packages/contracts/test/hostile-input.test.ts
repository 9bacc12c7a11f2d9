import { describe, expect, it } from 'vitest';
import { findUnacceptable } from '../src/index.js';

describe('findUnacceptable', () => {
  it('finds NUL characters in values and keys, and reserved keys, with their paths', () => {
    expect(findUnacceptable({ a: { b: ['x', 'y\u0000'] } })).toEqual({ kind: 'nul', path: 'a.b[1]' });
    expect(findUnacceptable({ a: { 'k\u0000': 1 } })).toEqual({ kind: 'nul', path: 'a.k\u0000' });
    expect(findUnacceptable(JSON.parse('{"t":{"i":[{"__proto__":{"admin":true}}]}}'))).toEqual({
      kind: 'reserved_key',
      path: 't.i[0].__proto__',
    });
    expect(findUnacceptable({ constructor: 1 })).toEqual({ kind: 'reserved_key', path: 'constructor' });
    expect(findUnacceptable('\u0000')).toEqual({ kind: 'nul', path: '(root)' });
    expect(findUnacceptable({ a: [1, true, null, { b: 'ok' }] })).toBeUndefined();
  });

  it('walks 100,000 levels without overflowing the stack', () => {
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnacceptable(deep)?.kind).toBe('nul');
  });
});
