/**
 * Checks on decoded JSON that a schema cannot make: keys that mean something to JavaScript objects,
 * and the bounds on what a refusal may echo. Iterative, so no input depth can overflow the stack.
 */

/** Keys refused anywhere in a message: downstream code that merges objects could be steered by them. */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/**
 * What `findUnacceptable` reports: a NUL character or a lone UTF-16 surrogate (JSON can carry both,
 * escaped; Postgres jsonb and text can store neither, and a SIEM may choke on them), or a reserved key.
 */
export interface Unacceptable {
  kind: 'nul' | 'lone_surrogate' | 'reserved_key';
  /** Where: `a.b[2].c` (the root is `(root)`). */
  path: string;
}

/** What a refusal says of each kind of unacceptable value, after the path it names. */
export const UNACCEPTABLE_MESSAGES: Readonly<Record<Unacceptable['kind'], string>> = {
  nul: 'contains a NUL character (\\u0000), which stepgate does not accept',
  lone_surrogate:
    'contains a lone UTF-16 surrogate (an unpaired \\ud800-\\udfff escape), which stepgate does not accept',
  reserved_key: `the keys ${[...RESERVED_KEYS].join(', ')} are refused anywhere in a message`,
};

/** An unpaired UTF-16 surrogate (\ud800–\udfff): with the `u` flag a well-formed pair is one code point, not Cs. */
const LONE_SURROGATE = /\p{Cs}/u;
const LONE_SURROGATES = /\p{Cs}/gu;

/** Whether the string holds a lone UTF-16 surrogate, which has no UTF-8 form. */
function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/** The string with each lone UTF-16 surrogate replaced by U+FFFD (the replacement character). */
function withoutLoneSurrogates(text: string): string {
  return hasLoneSurrogate(text) ? text.replace(LONE_SURROGATES, '\uFFFD') : text;
}

/** The string with each NUL character and lone UTF-16 surrogate replaced by U+FFFD: what Postgres can store of it. */
export function storableText(text: string): string {
  return withoutLoneSurrogates(text.replaceAll('\u0000', '\uFFFD'));
}

function unstorable(text: string): 'nul' | 'lone_surrogate' | undefined {
  if (text.includes('\u0000')) return 'nul';
  return hasLoneSurrogate(text) ? 'lone_surrogate' : undefined;
}

/**
 * The first string or key holding a NUL character or a lone surrogate, or the first reserved key, in one iterative pass
 * over decoded JSON (no recursion, so no depth overflows the stack); paths are spelled out only for
 * what is found.
 */
export function findUnacceptable(value: unknown): Unacceptable | undefined {
  // Each entry: the node, its parent entry's index, and its key in the parent.
  const nodes: Array<{ node: unknown; parent: number; key: string | number }> = [{ node: value, parent: -1, key: '' }];
  const pathOf = (at: number): string => {
    const parts: Array<string | number> = [];
    for (let i = at; i > 0; i = nodes[i]!.parent) parts.push(nodes[i]!.key);
    return (
      storableText(
        parts.reverse().reduce<string>((p, k) => (typeof k === 'number' ? `${p}[${k}]` : p ? `${p}.${k}` : k), ''),
      ) || '(root)'
    );
  };
  for (let i = 0; i < nodes.length; i++) {
    const { node } = nodes[i]!;
    if (typeof node === 'string') {
      const kind = unstorable(node);
      if (kind) return { kind, path: pathOf(i) };
      continue;
    }
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      for (let k = 0; k < node.length; k++) nodes.push({ node: node[k], parent: i, key: k });
      continue;
    }
    for (const key of Object.keys(node)) {
      nodes.push({ node: (node as Record<string, unknown>)[key], parent: i, key });
      if (RESERVED_KEYS.has(key)) return { kind: 'reserved_key', path: pathOf(nodes.length - 1) };
      const kind = unstorable(key);
      if (kind) return { kind, path: pathOf(nodes.length - 1) };
    }
  }
  return undefined;
}

/** The longest string a refusal or audit event echoes from an unvalidated message. */
export const MAX_ECHO_CHARS = 255;

/**
 * `value` when it is a string of at most MAX_ECHO_CHARS characters that Postgres can store (no NUL, no
 * lone surrogate), else null (never echoed).
 */
export function echoable(value: unknown): string | null {
  return typeof value === 'string' && value.length <= MAX_ECHO_CHARS && unstorable(value) === undefined ? value : null;
}

/** The longest id a consumer answers to (a refusal names it); a longer one goes to `dlq`. */
export const MAX_ANSWERABLE_ID_CHARS = 128;

/**
 * Whether a consumer can answer a message carrying this id (`request_id`, `completion_id`), even to
 * refuse it: a non-empty echoable string of at most MAX_ANSWERABLE_ID_CHARS. Any other goes to `dlq`.
 */
export function answerableId(id: unknown): id is string {
  return typeof id === 'string' && id.length > 0 && id.length <= MAX_ANSWERABLE_ID_CHARS && echoable(id) !== null;
}

/** A key id as credentials carry it; checked before any lookup, so a header never reaches a cache unchecked. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** The first `max` UTF-16 units of a text, one fewer when that would cut a surrogate pair in two. */
export function sliceWellFormed(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/** A text shortened to `max` characters for an error message, saying how long it was. */
export function clip(text: string, max = 200): string {
  return text.length <= max ? text : `${sliceWellFormed(text, max)}… (${text.length} characters)`;
}
