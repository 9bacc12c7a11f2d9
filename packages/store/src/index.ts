export {
  backendIdentity,
  cancelBackend,
  endBackend,
  isRefusalOfTheData,
  isTransientDatabaseError,
  withClient,
  withTransaction,
  type BackendIdentity,
  type Db,
} from './db.js';
export {
  StoreError,
  ConcurrentFirstGate,
  CommitOutcomeUnknown,
  TransactionRolledBack,
  UnknownTenantError,
  UnknownOutboxTopicError,
  PrincipalAlreadyLinkedError,
  ReplyToPrefixOverlapError,
  ReplyToPrefixUndelimitedError,
} from './errors.js';
export { BatchLedger, type LedgerRow, type StepKey } from './batch-ledger.js';
export {
  StepLedgerRepository,
  type AppliedApprovalOutcome,
  type ApprovalRef,
  type ApprovalState,
  type CompletionResult,
  type StepRef,
} from './step-ledger.js';
export { CredentialsRepository, type StoredCredential } from './credentials.js';
export {
  PolicyBundlesRepository,
  UnknownBundleVersionError,
  type BundleVersion,
  type ShadowBundle,
  type StoredBundle,
} from './policy-bundles.js';
export {
  KillSwitchesRepository,
  killSwitchCovering,
  killSwitchMessage,
  type KillSwitch,
  type KillSwitchScope,
  type KillSwitchTarget,
} from './kill-switches.js';
export { GateInputsRepository, type InputWindow, type RecordedInput } from './gate-inputs.js';
export {
  AlertThresholdsRepository,
  TenantsRepository,
  replyToPrefixDelimited,
  type ReplyToAllowance,
  type TenantRow,
  type ThresholdRow,
  type WindowedAlertRule,
} from './tenants.js';
export { AuditReadsRepository, type AuditQuery, type RecentAuditRow } from './audit-reads.js';
export { IdentitiesRepository, SessionsRepository, type IdentityLink, type StoredSession } from './identities.js';
export {
  OutboxRelay,
  OutboxRepository,
  type OutboxEntry,
  type OutboxRelayOptions,
  type PublishMessages,
  type RelayedMessage,
} from './outbox.js';
export { storeOn, type Store } from './store.js';
export {
  WEBHOOK_FORMATS,
  WebhooksRepository,
  type WebhookFormat,
  type WebhookRow,
  type WebhookTarget,
} from './webhooks.js';
