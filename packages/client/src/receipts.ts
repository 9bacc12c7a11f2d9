import { BlockList, isIP } from 'node:net';
import { ReceiptKeySetSchema, type Receipt } from '@stepgate/contracts';
import { publicKeyFromPem, verifyReceipt } from '@stepgate/contracts/node';

export interface ReceiptKeys {
  /** One public key that every receipt must verify with, whatever key id it names. */
  evaluatorPublicKeyPem?: string | undefined;
  /**
   * Public keys by receipt `key_id`: a receipt is verified with the key it names. List the old and
   * the new key while the services' signing key is rotated; a key id not listed falls back to
   * `evaluatorPublicKeyPem`, if given, and otherwise fails.
   */
  evaluatorPublicKeys?: Readonly<Record<string, string>> | undefined;
}

/** Checks decision receipts against the configured keys; undefined when none are configured. */
export function receiptVerifier(
  keys: ReceiptKeys,
): ((signed: { receipt: Receipt } & Record<string, unknown>) => boolean) | undefined {
  const byId = new Map(
    Object.entries(keys.evaluatorPublicKeys ?? {}).map(([keyId, pem]) => [keyId, publicKeyFromPem(pem)]),
  );
  const fallback = keys.evaluatorPublicKeyPem ? publicKeyFromPem(keys.evaluatorPublicKeyPem) : undefined;
  if (byId.size === 0 && !fallback) return undefined;
  return (signed) => {
    const key = byId.get(signed.receipt.key_id) ?? fallback;
    return key !== undefined && verifyReceipt(signed, key);
  };
}

/** A published key set is a few PEM keys: anything larger is not one. */
export const MAX_RECEIPT_KEY_SET_BYTES = 64 * 1024;
const RECEIPT_KEYS_TIMEOUT_MS = 10_000;

export type ReceiptKeysUnavailableCode =
  | 'INSECURE_URL'
  | 'REDIRECT'
  | 'HTTP_STATUS'
  | 'TOO_LARGE'
  | 'TIMEOUT'
  | 'UNREACHABLE'
  | 'INVALID_KEY_SET'
  | 'EMPTY_KEY_SET';

/** The receipt keys at a URL could not be fetched, or not from a place they can be trusted. */
export class ReceiptKeysUnavailableError extends Error {
  constructor(
    readonly code: ReceiptKeysUnavailableCode,
    readonly url: string,
    detail: string,
  ) {
    super(`receipt keys at ${url}: ${detail}`);
    this.name = 'ReceiptKeysUnavailableError';
  }
}

const loopbackRanges = new BlockList();
loopbackRanges.addSubnet('127.0.0.0', 8, 'ipv4');
loopbackRanges.addAddress('::1', 'ipv6');

/** Loopback by the parsed address, never by how the name starts (`127.attacker.example` is not). */
function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  const bare = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const family = isIP(bare);
  return family !== 0 && loopbackRanges.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

async function boundedBody(res: Response, url: string): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? 0);
  if (declared > MAX_RECEIPT_KEY_SET_BYTES) {
    await res.body?.cancel();
    throw new ReceiptKeysUnavailableError('TOO_LARGE', url, `over ${MAX_RECEIPT_KEY_SET_BYTES} bytes`);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of (res.body ?? []) as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_RECEIPT_KEY_SET_BYTES) {
      await res.body?.cancel().catch(() => undefined);
      throw new ReceiptKeysUnavailableError('TOO_LARGE', url, `over ${MAX_RECEIPT_KEY_SET_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The receipt keys a service publishes at `url`: https, or plain http only from this machine; no
 * redirect is followed (it could lead anywhere, https to http included), the body is capped and the
 * request times out.
 */
export async function fetchReceiptKeys(
  url: string,
  options: { timeoutMs?: number } = {},
): Promise<NonNullable<ReturnType<typeof receiptVerifier>>> {
  const { protocol, hostname } = new URL(url);
  // Keys fetched over plain HTTP could be anyone's: only from this machine.
  if (protocol !== 'https:' && !(protocol === 'http:' && isLoopbackHost(hostname)))
    throw new ReceiptKeysUnavailableError('INSECURE_URL', url, 'expected an https:// (or loopback http://) URL');
  const signal = AbortSignal.timeout(options.timeoutMs ?? RECEIPT_KEYS_TIMEOUT_MS);
  let text: string;
  try {
    const res = await fetch(url, { redirect: 'manual', signal });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      throw new ReceiptKeysUnavailableError('REDIRECT', url, `HTTP ${res.status}: redirects are not followed`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new ReceiptKeysUnavailableError('HTTP_STATUS', url, `HTTP ${res.status}`);
    }
    text = await boundedBody(res, url);
  } catch (err) {
    if (err instanceof ReceiptKeysUnavailableError) throw err;
    if (signal.aborted) throw new ReceiptKeysUnavailableError('TIMEOUT', url, 'no answer in time');
    throw new ReceiptKeysUnavailableError('UNREACHABLE', url, (err as Error).message);
  }
  let set;
  try {
    set = ReceiptKeySetSchema.parse(JSON.parse(text));
  } catch (err) {
    throw new ReceiptKeysUnavailableError('INVALID_KEY_SET', url, (err as Error).message);
  }
  const verifies = receiptVerifier({
    evaluatorPublicKeys: Object.fromEntries(set.keys.map((k) => [k.key_id, k.public_key_pem])),
  });
  if (!verifies) throw new ReceiptKeysUnavailableError('EMPTY_KEY_SET', url, 'the set is empty');
  return verifies;
}
