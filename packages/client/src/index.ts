export * from './gate-client.js';
export { receiptVerifier, type ReceiptKeys } from './receipts.js';
