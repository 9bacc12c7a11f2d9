import type { Receipt } from '@stepgate/contracts';
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
