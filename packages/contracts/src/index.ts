export * from './topics.js';
export * from './gate-step.js';
export * from './gate-request.js';
export * from './decision.js';
export * from './errors.js';
export * from './limits.js';
export * from './signing.js';
export * from './events.js';
