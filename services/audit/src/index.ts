export { AuditService } from './service.js';
export { AuditConsumer } from './consumer.js';
export { configFromEnv, type AuditConfig } from './config.js';
export { writeBatch, Partitions, copyLines, COPY_AUDIT_LOG } from './store.js';
export { AlertsConsumer } from './alerts.js';
export {
  readAuditEvent,
  AUDIT_TIMESTAMP_WINDOW,
  MAX_AUDIT_EVENT_BYTES,
  MAX_AUDIT_EVENT_DEPTH,
  type AuditIntake,
} from './intake.js';
export { AlertRules, DEFAULT_THRESHOLDS, type Threshold, type WindowedRule } from './alert-rules.js';
