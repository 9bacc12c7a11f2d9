export * from './isolation.js';
export { Relay } from './relay.js';
export { freePort } from './ports.js';
export { eventually } from './poll.js';
export { rejection } from './rejection.js';
export { parseCef } from './cef.js';
export { secureStack, temporalTlsProxy, type SecureStack } from './secure.js';
