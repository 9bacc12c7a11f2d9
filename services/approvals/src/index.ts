export { ApprovalsService, type IntakeResult } from './service.js';
export { Approvers, ApprovalRefusedError, type ApprovalListing } from './approvers.js';
export { configFromEnv, type ApprovalsConfig } from './config.js';
export * from './workflows/definitions.js';
