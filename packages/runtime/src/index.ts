export { serviceEnv, type ServiceEnv } from './env.js';
export * from './settings/index.js';
export {
  KEYED_LOOKUP_PLANS,
  createPool,
  databaseAnswers,
  holdBatchWhileDatabaseDown,
  waitForDatabase,
  type HeldBatch,
  type PoolOptions,
} from './database.js';
export { RedoClock, type RedoClockOptions } from './redo-clock.js';
export { readiness, serveOps, type OpsServerOptions, type ReadinessChecks } from './metrics.js';
export { consumerLogs } from './consumer-logs.js';
export { consumerLag } from './consumer-lag.js';
export { Coalescer } from './coalescer.js';
