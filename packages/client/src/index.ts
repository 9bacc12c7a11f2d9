export * from './gate-client.js';
export { RefusedLocallyError, localRefusal, sizeRefusal, type OutgoingGateRequest } from './local-refusal.js';
export { newRequestId } from './request-id.js';
export {
  fetchReceiptKeys,
  receiptVerifier,
  MAX_RECEIPT_KEY_SET_BYTES,
  ReceiptKeysUnavailableError,
  type ReceiptKeys,
  type ReceiptKeysUnavailableCode,
} from './receipts.js';
