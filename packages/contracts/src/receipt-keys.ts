import { z } from 'zod';
import { SIGNATURE_ALG } from './wire.js';

/** Where the evaluator and the approvals service serve their receipt keys, on their metrics port. */
export const RECEIPT_KEYS_PATH = '/receipt-keys';

/**
 * The public receipt keys a signing service publishes (`GET /receipt-keys` on its metrics port), so
 * anyone holding a decision can check its receipt: pick the key whose `key_id` the receipt names.
 */
export const ReceiptKeySetSchema = z.object({
  keys: z.array(
    z.object({ key_id: z.string().min(1), alg: z.literal(SIGNATURE_ALG), public_key_pem: z.string().min(1) }),
  ),
});
export type ReceiptKeySet = z.infer<typeof ReceiptKeySetSchema>;
