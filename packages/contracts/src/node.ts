// '@stepgate/contracts/node': the half of the contract that needs Node: Ed25519 keys, signatures and
// receipts (node:crypto, sodium-native when it loads) and UUIDv5 approval and audit event ids (uuid's
// Node build).
export * from './signing.js';
export { ed25519, nodeCryptoEd25519, type Ed25519Backend } from './ed25519.js';
export { ed25519Threads, Ed25519ThreadError, type Ed25519Threads } from './ed25519-threads.js';
export * from './approval-id.js';
export * from './audit-event-id.js';
export * from './webhook.js';
