export * from './topics.js';
export * from './gate-step.js';
export * from './gate-request.js';
export * from './decision.js';
export * from './errors.js';
export * from './limits.js';
export * from './signing.js';
export { ed25519, nodeCryptoEd25519, type Ed25519Backend } from './ed25519.js';
export * from './events.js';
