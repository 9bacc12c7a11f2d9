export { serviceEnv, type ServiceEnv } from './env.js';
export { createPool, databaseAnswers, holdBatchWhileDatabaseDown, waitForDatabase } from './database.js';
export { serveMetrics } from './metrics.js';
export { OffsetCommitter } from './kafka.js';
