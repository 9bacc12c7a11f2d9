export { envField } from './fields.js';
export { readSettings, SettingsError, settingsOrExit, type SettingsProblem } from './read.js';
export {
  ApprovalsEnvSchema,
  AuditEnvSchema,
  CliEnvSchema,
  ControlPlaneEnvSchema,
  EvaluatorEnvSchema,
  ServiceEnvSchema,
  TemporalEnvSchema,
} from './service.js';
export {
  KafkaSecurityEnvSchema,
  PostgresTlsEnvSchema,
  TemporalTlsEnvSchema,
  kafkaSecurity,
  postgresSsl,
  temporalConnectionOptions,
  type PostgresSsl,
  type TemporalConnectionOptions,
} from '../transport.js';
