export * from './isolation.js';
export { Relay } from './relay.js';
