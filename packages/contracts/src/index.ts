export * from './topics.js';
export * from './gate-step.js';
