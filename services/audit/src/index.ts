export { AuditService } from './service.js';
export { AuditConsumer } from './consumer.js';
export { configFromEnv, type AuditConfig } from './config.js';
export { writeBatch, Partitions, partitionName, copyLines, COPY_AUDIT_LOG } from './store.js';
export { chain, rowHash, GENESIS_HASH, UNATTRIBUTED_TENANT } from './chain.js';
export { verifyChain, type VerifyReport, type BrokenLink } from './verify.js';
export { planRetention, applyRetention, RetentionFloorError, type RetentionPlan } from './retention.js';
export { exportAudit, cefLine, EXPORT_FORMATS, CSV_COLUMNS, type ExportFormat, type ExportFilter } from './export.js';
export { AlertRules, DEFAULT_THRESHOLDS, type Threshold, type WindowedRule } from './alert-rules.js';
