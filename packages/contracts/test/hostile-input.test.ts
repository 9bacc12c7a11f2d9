import { describe, expect, it } from 'vitest';
import { echoable, findUnacceptable } from '../src/index.js';

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

  it('finds lone UTF-16 surrogates in values and keys, naming a key with U+FFFD in its place; well-formed pairs pass', () => {
    expect(findUnacceptable({ a: ['ok', 'x\ud800'] })).toEqual({ kind: 'lone_surrogate', path: 'a[1]' });
    expect(findUnacceptable({ a: 'x\udc00y' })).toEqual({ kind: 'lone_surrogate', path: 'a' });
    expect(findUnacceptable({ a: { 'k\udbff': 1 } })).toEqual({ kind: 'lone_surrogate', path: 'a.k\uFFFD' });
    expect(findUnacceptable({ 'emoji \ud83d\ude00': ['\ud83d\ude00', '\u{10FFFF}'] })).toBeUndefined();
  });

  it('echoes only bounded strings Postgres can store', () => {
    expect(echoable('wf-1')).toBe('wf-1');
    expect(echoable('wf\ud83d\ude00')).toBe('wf\ud83d\ude00');
    for (const bad of ['wf\ud800', 'wf\u0000', 'x'.repeat(256), 42, null]) expect(echoable(bad)).toBeNull();
  });

  it('walks 100,000 levels without overflowing the stack', () => {
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnacceptable(deep)?.kind).toBe('nul');
  });
});
