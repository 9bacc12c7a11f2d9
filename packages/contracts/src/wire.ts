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
  const write = (member: unknown): string => {
    const text = serialize(member);
    if (text === undefined) throw new TypeError('a member has no canonical JSON form');
    if (member !== null && typeof member === 'object' && !frozenText.has(member)) reusable = false;
    return text;
  };
  let text: string;
  if (Array.isArray(value)) {
    const items: string[] = [];
    // A hole reads as undefined and is written as null, as JSON.stringify writes it.
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      items.push(item === undefined || typeof item === 'symbol' ? 'null' : write(item));
    }
    text = `[${items.join(',')}]`;
  } else {
    const record = value as Record<string, unknown>;
    const members: string[] = [];
    for (const key of Object.keys(record).sort()) {
      const member = record[key];
      if (member === undefined || typeof member === 'symbol') continue;
      members.push(`${JSON.stringify(key)}:${write(member)}`);
    }
    text = `{${members.join(',')}}`;
  }
  if (reusable) frozenText.set(value, text);
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
