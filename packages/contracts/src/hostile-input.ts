/**
 * Checks on decoded JSON that a schema cannot make: keys that mean something to JavaScript objects,
 * and the bounds on what a refusal may echo. Iterative, so no input depth can overflow the stack.
 */

/** Keys refused anywhere in a message: downstream code that merges objects could be steered by them. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The path of the first reserved key in `value`, or undefined. */
export function findReservedKey(value: unknown): string | undefined {
  const stack: Array<[unknown, string]> = [[value, '']];
  while (stack.length) {
    const [node, path] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      node.forEach((child, i) => stack.push([child, `${path}[${i}]`]));
      continue;
    }
    for (const key of Object.keys(node)) {
      const childPath = path ? `${path}.${key}` : key;
      if (RESERVED_KEYS.has(key)) return childPath;
      stack.push([(node as Record<string, unknown>)[key], childPath]);
    }
  }
  return undefined;
}

/** The longest string a refusal or audit event echoes from an unvalidated message. */
export const MAX_ECHO_CHARS = 255;

/** `value` when it is a string of at most MAX_ECHO_CHARS characters, else null (never echoed). */
export function echoable(value: unknown): string | null {
  return typeof value === 'string' && value.length <= MAX_ECHO_CHARS ? value : null;
}

/** A key id as credentials carry it; checked before any lookup, so a header never reaches a cache unchecked. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** A text shortened to `max` characters for an error message, saying how long it was. */
export function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}
