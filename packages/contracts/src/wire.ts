import canonicalizeModule from 'canonicalize';

// What signed messages carry, without the crypto that makes or checks them (that is in ./signing.ts,
// exported from '@stepgate/contracts/node'): header names, the receipt's shape, the bytes it signs.

// canonicalize is CommonJS (module.exports = fn) but its types declare an ES default export;
// depending on the loader the default import is the function or a namespace holding it.
type Serialize = (input: unknown) => string | undefined;
const interop = canonicalizeModule as unknown as Serialize & { default?: Serialize };
const canonicalize: Serialize = interop.default ?? interop;

/** Kafka headers that authenticate a message: the credential's key id and an Ed25519 signature of the value bytes. */
export const HEADER_KEY_ID = 'stepgate-key-id';
export const HEADER_SIGNATURE = 'stepgate-signature';
export const HEADER_TRACEPARENT = 'traceparent';

export const SIGNATURE_ALG = 'Ed25519' as const;

/**
 * RFC 8785 (JCS) canonical JSON: the bytes a receipt signs. Scalars are written by the `canonicalize`
 * library; containers are joined here, the way it joins them, so that a deeply frozen object (the
 * policy summaries a compiled bundle puts in every decision) is written once and its text reused:
 * it cannot change, so neither can its text.
 */
export function canonicalJson(value: unknown): string {
  const text = serialize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return text;
}

const frozenText = new WeakMap<object, string>();

/**
 * Keys as JSON strings, kept for the keys that recur (a contract's field names): bounded in number and
 * length, since a request's own keys are whatever its sender chose (a thousand 100 KB keys kept
 * 200 MB).
 */
const quotedKeys = new Map<string, string>();
const QUOTED_KEYS_KEPT = 4_096;
const QUOTED_KEY_MAX_CHARS = 64;

function quotedKey(key: string): string {
  let quoted = quotedKeys.get(key);
  if (quoted === undefined) {
    quoted = JSON.stringify(key);
    if (key.length <= QUOTED_KEY_MAX_CHARS && quotedKeys.size < QUOTED_KEYS_KEPT) quotedKeys.set(key, quoted);
  }
  return quoted;
}

// Written by concatenation (no array of members to join, no closure per container): a decision's body
// took 6 times as long as its JSON.stringify, and its garbage was the largest share of the evaluator's.
function serialize(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'function') throw new TypeError('a function has no canonical JSON form');
    return canonicalize(value);
  }
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return serialize(toJSON.call(value));
  const known = frozenText.get(value);
  if (known !== undefined) return known;
  let reusable = isPlainFrozen(value);
  let text: string;
  if (Array.isArray(value)) {
    text = '[';
    // A hole reads as undefined and is written as null, as JSON.stringify writes it.
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (i > 0) text += ',';
      if (item === undefined || typeof item === 'symbol') text += 'null';
      else {
        text += member(item);
        if (reusable && item !== null && typeof item === 'object' && !frozenText.has(item)) reusable = false;
      }
    }
    text += ']';
  } else {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record).sort();
    text = '{';
    let first = true;
    for (const key of keys) {
      const item = record[key];
      if (item === undefined || typeof item === 'symbol') continue;
      text += `${first ? '' : ','}${quotedKey(key)}:${member(item)}`;
      first = false;
      if (reusable && item !== null && typeof item === 'object' && !frozenText.has(item)) reusable = false;
    }
    text += '}';
  }
  if (reusable) frozenText.set(value, text);
  return text;
}

function member(item: unknown): string {
  const text = serialize(item);
  if (text === undefined) throw new TypeError('a member has no canonical JSON form');
  return text;
}

/**
 * A frozen plain object or array whose members are all data properties: nothing about it can change
 * its text (a getter could, and so could a toJSON added to another prototype later).
 */
function isPlainFrozen(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== Array.prototype) return false;
  if (!Object.isFrozen(value)) return false;
  return Object.values(Object.getOwnPropertyDescriptors(value)).every((d) => 'value' in d);
}

export interface Receipt {
  key_id: string;
  alg: typeof SIGNATURE_ALG;
  signature: string;
}
