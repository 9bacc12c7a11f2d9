export { ApprovalsService, type IntakeResult } from './service.js';
export { configFromEnv, type ApprovalsConfig } from './config.js';
