export * from './endpoints.js';
export * from './health.js';
export * from './migrate.js';
export * from './provision.js';
export * from './secure-kafka.js';
