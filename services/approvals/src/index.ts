export { ApprovalsService, type IntakeResult, type UnavailableResult } from './service.js';
export { APPROVAL_START_REFUSED, unavailableOutcome, unavailableOutcomeIds, type OutcomeIds } from './unavailable.js';
export { configFromEnv, type ApprovalsConfig } from './config.js';
export {
  createActivities,
  type ActivityDeps,
  type KillSwitchVerdict,
  type OutcomeInput,
  type OutcomeRecord,
} from './activities.js';
