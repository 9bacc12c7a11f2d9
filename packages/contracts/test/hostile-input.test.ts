import { describe, expect, it } from 'vitest';
import { clip, echoable, findUnacceptable, sliceWellFormed, summarizeInputs } from '../src/index.js';

describe('findUnacceptable', () => {
  it('finds NUL characters in values and keys, and reserved keys, with their paths', () => {
    expect(findUnacceptable({ a: { b: ['x', 'y\u0000'] } })).toEqual({ kind: 'nul', path: 'a.b[1]' });
    // A key is named with U+FFFD in place of what the path could not carry.
    expect(findUnacceptable({ a: { 'k\u0000': 1 } })).toEqual({ kind: 'nul', path: 'a.k\uFFFD' });
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

  it('cuts texts without cutting a surrogate pair in two (an emoji at the limit is left out whole)', () => {
    const text = 'ab\ud83d\ude00cd';
    expect(sliceWellFormed(text, 3)).toBe('ab');
    expect(sliceWellFormed(text, 4)).toBe('ab\ud83d\ude00');
    expect(sliceWellFormed(text, 99)).toBe(text);
    expect(clip('x'.repeat(199) + '\ud83d\ude00')).toBe(`${'x'.repeat(199)}… (201 characters)`);
    const summary = summarizeInputs({ q: 'y'.repeat(79) + '\ud83d\ude00' });
    expect(findUnacceptable(summary)).toBeUndefined();
    // The whole summary cut at 1,000 units, where the key's pair begins at unit 999.
    const long = summarizeInputs({ ['k'.repeat(997) + '\ud83d\ude00']: 1 }, { maxLength: 1000 });
    expect(findUnacceptable(long)).toBeUndefined();
  });

  it('walks 100,000 levels without overflowing the stack', () => {
    let deep: unknown = 'x\u0000';
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(findUnacceptable(deep)?.kind).toBe('nul');
  });
});
