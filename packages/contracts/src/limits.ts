import { storableText } from './hostile-input.js';

/** Caps on a message value, checked before and after parsing. */
export const MAX_VALUE_BYTES = 256 * 1024;
export const MAX_JSON_DEPTH = 32;
export const MAX_COMPLETION_OUTPUT_BYTES = 64 * 1024;

/** Nesting depth of a parsed JSON value (a scalar is 0). Iterative: no recursion limit to hit. */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    max = Math.max(max, depth + 1);
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
  return max;
}

/**
 * Nesting depth of JSON text read from its raw bytes, without parsing: brackets outside strings,
 * stopping as soon as `limit` is passed (then `limit + 1`). One pass, no allocation: run it before
 * JSON.parse or anything recursive sees the value. Meant for text that then goes through JSON.parse,
 * which refuses whatever this scan mis-reads (it does not validate).
 */
export function jsonTextDepth(bytes: Uint8Array, limit = Infinity): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === 0x5c)
        i++; // backslash: the next byte is escaped
      else if (b === 0x22) inString = false;
    } else if (b === 0x22) inString = true;
    else if (b === 0x5b || b === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (b === 0x5d || b === 0x7d) depth--;
  }
  return max;
}

/**
 * A copy with every NUL character and lone UTF-16 surrogate in strings and keys replaced by U+FFFD
 * (the replacement character): what Postgres can store of them.
 */
export function replaceUnstorable<T>(value: T): T {
  if (typeof value === 'string') return storableText(value) as T;
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v: unknown) => replaceUnstorable(v)) as T;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), replaceUnstorable(v)])) as T;
}
