export * from './gate-client.js';
