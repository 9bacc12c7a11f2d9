import { z } from 'zod';
import { DEFAULT_TOPIC_PREFIX } from '@stepgate/contracts';
import { envField } from './fields.js';
import { KafkaSecurityEnvSchema, PostgresTlsEnvSchema, TemporalTlsEnvSchema } from '../transport.js';

/** What every service reads: where Kafka and Postgres are, its names, and its metrics port. */
export const ServiceEnvSchema = z
  .object({
    KAFKA_BROKERS: envField.hostPorts().default(['127.0.0.1:9092']),
    DATABASE_URL: envField.postgresUrl().default('postgres://stepgate:stepgate@127.0.0.1:5433/stepgate'),
    STEPGATE_DB_SCHEMA: envField.identifier().default('public'),
    STEPGATE_TOPIC_PREFIX: z.string().default(DEFAULT_TOPIC_PREFIX),
    STEPGATE_INSTANCE_ID: envField.text().optional(),
    STEPGATE_SESSION_TIMEOUT_MS: envField.integer(3_000, 300_000).default(10_000),
    METRICS_PORT: envField.port().optional(),
    METRICS_HOST: envField.text().default('127.0.0.1'),
    /** Decisions go to each tenant's own topic (`gate.decisions.<tenant>`) instead of the shared one. */
    STEPGATE_TENANT_DECISION_TOPICS: envField.flag().default(false),
  })
  .extend(KafkaSecurityEnvSchema.shape)
  .extend(PostgresTlsEnvSchema.shape);

export const TemporalEnvSchema = z
  .object({
    TEMPORAL_ADDRESS: envField.hostPort().default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: envField.text().default('default'),
  })
  .extend(TemporalTlsEnvSchema.shape);

export const EvaluatorEnvSchema = ServiceEnvSchema.extend({
  STEPGATE_EVALUATOR_GROUP: envField.text().optional(),
  STEPGATE_EVALUATOR_KEY_FILE: z
    .string({ error: "expected the path of the evaluator's Ed25519 PKCS#8 PEM key" })
    .trim()
    .min(1, "expected the path of the evaluator's Ed25519 PKCS#8 PEM key"),
  STEPGATE_EVALUATOR_KEY_ID: envField.text().default('stepgate-evaluator'),
  STEPGATE_MAX_CLOCK_SKEW_MS: envField.integer(1_000, 3_600_000).default(300_000),
  STEPGATE_CREDENTIAL_CACHE_MS: envField.integer(0, 600_000).default(5_000),
  STEPGATE_BUNDLE_MAX_AGE_MS: envField.integer(1_000, 3_600_000).default(30_000),
  PORTAL_BASE_URL: envField.url().optional(),
  STEPGATE_PARTITIONS_CONCURRENTLY: envField.integer(1, 1_000).default(24),
  STEPGATE_GATES_PER_TRANSACTION: envField.integer(1, 100_000).default(2_000),
  STEPGATE_REDO_UNWRITABLE_MS: envField.integer(0, 600_000).optional(),
  STEPGATE_SIGNATURE_THREADS: envField.integer(0, 64).optional(),
  STEPGATE_REDACT_KEYS: envField.list().optional(),
});

export const ApprovalsEnvSchema = ServiceEnvSchema.extend(TemporalEnvSchema.shape).extend({
  STEPGATE_APPROVALS_GROUP: envField.text().optional(),
  STEPGATE_APPROVALS_TASK_QUEUE: envField.text().optional(),
  STEPGATE_SIGNING_KEY_FILE: envField.text().optional(),
  STEPGATE_EVALUATOR_KEY_FILE: envField.text().optional(),
  STEPGATE_SIGNING_KEY_ID: envField.text().optional(),
  STEPGATE_EVALUATOR_KEY_ID: envField.text().optional(),
  /** `key_id=path` of each evaluator public key (PEM) whose approval requests are taken, besides the service's own receipt key. */
  STEPGATE_EVALUATOR_PUBLIC_KEY_FILES: envField.list().optional(),
  STEPGATE_APPROVAL_TIMEOUT_SECONDS: envField.integer(1, 90 * 86_400).default(86_400),
  STEPGATE_APPROVAL_REMINDER_FRACTION: z
    .union([z.literal('off'), envField.number(0.01, 0.99)], { error: 'expected a fraction between 0 and 1, or off' })
    .default(0.5),
  STEPGATE_CANCEL_ORCHESTRATOR_ON_REJECT: envField.flag().default(false),
  /** The approval links webhooks carry: `<PORTAL_BASE_URL>/approvals/<approval_id>`. */
  PORTAL_BASE_URL: envField.url().optional(),
  /** Development only: webhooks may be http to 127.0.0.1 / localhost (https otherwise, never private addresses). */
  STEPGATE_WEBHOOK_ALLOW_LOOPBACK: envField.flag().default(false),
});

export const AuditEnvSchema = ServiceEnvSchema.extend({
  STEPGATE_AUDIT_GROUP: envField.text().optional(),
  STEPGATE_ALERTS_GROUP: envField.text().optional(),
  STEPGATE_PARTITIONS_CONCURRENTLY: envField.integer(1, 1_000).default(6),
  STEPGATE_AUDIT_WRITE_SLICE: envField.integer(1, 100_000).default(2_000),
  /** Worker threads that prepare the audit consumer's slices (parse, check, canonicalise, encode); 0: on the event loop. */
  STEPGATE_AUDIT_PREPARE_THREADS: envField.integer(0, 4).default(1),
  STEPGATE_OUTBOX_RELAY_INTERVAL_MS: envField.integer(50, 3_600_000).default(1_000),
  STEPGATE_LEDGER_RETENTION_INTERVAL_MS: envField.integer(1_000, 86_400_000).default(3_600_000),
  STEPGATE_USAGE_COUNTER_GRACE_MS: envField.integer(0, 30 * 86_400_000).default(3_600_000),
  STEPGATE_DEDUP_RETENTION_MS: envField.integer(60_000, 365 * 86_400_000).default(86_400_000),
  STEPGATE_MAX_CLOCK_SKEW_MS: envField.integer(1_000, 3_600_000).default(300_000),
  STEPGATE_OUTBOX_RETENTION_MS: envField.integer(60_000, 365 * 86_400_000).default(7 * 86_400_000),
});

/** The control plane: its HTTP listener, the OpenID Connect provider people sign in with, and the gateway keys. */
export const ControlPlaneEnvSchema = ServiceEnvSchema.extend(TemporalEnvSchema.shape).extend({
  STEPGATE_APPROVALS_TASK_QUEUE: envField.text().optional(),
  CONTROL_PLANE_PORT: envField.port().default(8080),
  CONTROL_PLANE_HOST: envField.text().default('127.0.0.1'),
  /** Where people reach the portal (cookies are Secure when it is https). */
  PORTAL_BASE_URL: envField.url().default('http://127.0.0.1:8080/'),
  OIDC_ISSUER_URL: envField.url(),
  OIDC_CLIENT_ID: envField.text(),
  OIDC_CLIENT_SECRET: envField.text().optional(),
  /** The `aud` bearer tokens must carry (default: the client id). */
  OIDC_AUDIENCE: envField.text().optional(),
  /**
   * The claim whose value names a person's principal (linked in `principal_identities`): `sub` (stable,
   * issued by the provider), `oid` for Entra ID, or `email` (then only with `email_verified: true`).
   */
  OIDC_PRINCIPAL_CLAIM: envField.text().default('sub'),
  /** Where configured, roles come from this claim (an array of group names) instead of the principals table. */
  OIDC_GROUPS_CLAIM: envField.text().optional(),
  /** Group names are this prefix and a role (e.g. `stepgate-` for `stepgate-approver`); required with OIDC_GROUPS_CLAIM. */
  OIDC_GROUPS_PREFIX: z.string().default(''),
  /**
   * A session whose roles came from the groups claim ends at the ID token's `exp` or after this long,
   * whichever is first: the groups are not read again, so a removal at the provider must end it.
   */
  OIDC_GROUPS_SESSION_MAX_SECONDS: envField.integer(60, 86_400).default(3600),
  /** Only for a provider on this machine (the embedded one of `npm run dev`): allow http. */
  OIDC_ALLOW_INSECURE_HTTP: envField.flag().default(false),
  OIDC_SCOPES: z.string().default('openid email profile'),
  /** Approval-gateway credential files (as `stepgate credentials create` writes them), one per tenant. */
  STEPGATE_GATEWAY_KEY_FILES: envField.list().optional(),
  /** Signs the sign-in state cookie; at least 32 characters. */
  STEPGATE_COOKIE_SECRET: z.string().min(32, 'expected a secret of at least 32 characters'),
  STEPGATE_SESSION_TTL_SECONDS: envField.integer(60, 7 * 86_400).default(8 * 3600),
  /** Origins allowed to call the API from a browser (CORS is off unless set). */
  CONTROL_PLANE_CORS_ORIGINS: envField.list().optional(),
  /** Sign-in attempts per client address per minute. */
  CONTROL_PLANE_SIGNIN_RATE_PER_MINUTE: envField.integer(1, 10_000).default(20),
  /** API requests per minute of one signed-in identity (bearer subject or session), per instance. */
  CONTROL_PLANE_API_RATE_PER_MINUTE: envField.integer(1, 100_000).default(600),
  /** API requests per minute of one client address without a valid identity, per instance. */
  CONTROL_PLANE_API_ANONYMOUS_RATE_PER_MINUTE: envField.integer(1, 100_000).default(60),
  /** Requests per minute of one client address before authentication (API and signed-in portal), per instance. */
  CONTROL_PLANE_ADDRESS_RATE_PER_MINUTE: envField.integer(1, 1_000_000).default(3000),
  /** Keys (addresses, principals) each control-plane rate limiter counts at once; least recently used out. */
  CONTROL_PLANE_RATE_LIMIT_CACHE_SIZE: envField.integer(1000, 10_000_000).default(100_000),
  /** Development only: admins may add http webhooks to 127.0.0.1 / localhost (as the approvals service's setting). */
  STEPGATE_WEBHOOK_ALLOW_LOOPBACK: envField.flag().default(false),
});

/** The CLI's view of the services, from the same variables the services read. */
export const CliEnvSchema = ServiceEnvSchema.pick({
  KAFKA_BROKERS: true,
  DATABASE_URL: true,
  STEPGATE_DB_SCHEMA: true,
  STEPGATE_TOPIC_PREFIX: true,
  STEPGATE_TENANT_DECISION_TOPICS: true,
})
  .extend(KafkaSecurityEnvSchema.shape)
  .extend(PostgresTlsEnvSchema.shape)
  .extend(TemporalEnvSchema.shape)
  .extend({
    STEPGATE_APPROVALS_TASK_QUEUE: envField.text().optional(),
    STEPGATE_AUDIT_RETENTION_FLOOR_DAYS: envField.integer(1, 36_500).default(30),
  });
