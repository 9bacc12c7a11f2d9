// Portable half of the contract (browser, edge worker, the policy engine): schemas, types, limits,
// topics and canonical JSON. No node:crypto, no native addon; test/portable-import.test.ts in the
// policy engine holds this. Keys, signatures and approval ids are in './node.ts'.
export * from './topics.js';
export * from './gate-step.js';
export * from './gate-request.js';
export * from './decision.js';
export * from './errors.js';
export * from './limits.js';
export * from './wire.js';
export * from './events.js';
export * from './receipt-keys.js';
export * from './hostile-input.js';
export * from './approval-statement.js';
export { sha256Hex } from './sha256.js';
