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

/** RFC 8785 (JCS) canonical JSON: the bytes a receipt signs. */
export function canonicalJson(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new TypeError('value has no canonical JSON form');
  return text;
}

export interface Receipt {
  key_id: string;
  alg: typeof SIGNATURE_ALG;
  signature: string;
}
