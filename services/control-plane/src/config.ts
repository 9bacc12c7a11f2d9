import {
  ControlPlaneEnvSchema,
  postgresSsl,
  readSettings,
  SettingsError,
  temporalConnectionOptions,
  type PostgresSsl,
  type TemporalConnectionOptions,
} from '@stepgate/runtime';

/** The OpenID Connect provider people sign in with and whose tokens programs present. */
export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string | undefined;
  /** The `aud` bearer tokens must carry. */
  audience: string;
  /** The claim naming a person's principal (e.g. `email`, `sub`). */
  principalClaim: string;
  /** Roles from this claim (group names) instead of the principals table, where configured. */
  groupsClaim?: string | undefined;
  groupsPrefix: string;
  /** With a groups claim: sessions end at the ID token's `exp` or after this long, whichever is first. */
  groupsSessionMaxSeconds: number;
  scopes: string;
  /** Only for a provider on this machine (dev): allow plain http. */
  allowInsecureHttp: boolean;
}

export interface ControlPlaneConfig {
  databaseUrl: string;
  databaseSchema: string;
  /** pg's `ssl` option (DATABASE_SSLMODE, DATABASE_SSL_CA_FILE). */
  databaseSsl?: PostgresSsl;
  temporalAddress: string;
  /** TLS/mTLS and API key for Temporal (TEMPORAL_TLS*, TEMPORAL_API_KEY); plain `temporalAddress` without. */
  temporal?: TemporalConnectionOptions | undefined;
  temporalNamespace: string;
  taskQueue?: string | undefined;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  portalBaseUrl: string;
  oidc: OidcSettings;
  /** Approval-gateway credential files, one per tenant. */
  gatewayKeyFiles: string[];
  cookieSecret: string;
  sessionTtlSeconds: number;
  corsOrigins?: string[] | undefined;
  signInRatePerMinute: number;
  /** `/api/v1` requests per minute: per identity, and per client address for requests without one. */
  apiRatePerMinute: { identity: number; anonymous: number };
  /** Requests per minute of one client address, counted before authentication (API and signed-in portal). */
  addressRatePerMinute: number;
  /** Keys each rate limiter (address ceiling, identity budget, sign-in) counts at once, least recently used out. */
  rateLimitCacheSize: number;
  /** Development only: webhooks may be http to a loopback host. */
  allowLoopbackWebhooks?: boolean | undefined;
  metricsPort?: number | undefined;
  metricsHost?: string | undefined;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): ControlPlaneConfig {
  const e = readSettings('control-plane', ControlPlaneEnvSchema, env);
  // Without a prefix any group the provider lets people create (or that another app uses) named
  // `admin` would grant stepgate's admin role.
  if (e.OIDC_GROUPS_CLAIM && e.OIDC_GROUPS_PREFIX === '')
    throw new SettingsError('control-plane', [
      {
        variable: 'OIDC_GROUPS_PREFIX',
        expected: 'a prefix (e.g. stepgate-) whenever OIDC_GROUPS_CLAIM is set',
        got: undefined,
      },
    ]);
  return {
    databaseUrl: e.DATABASE_URL,
    databaseSchema: e.STEPGATE_DB_SCHEMA,
    databaseSsl: postgresSsl(e, 'control-plane'),
    temporalAddress: e.TEMPORAL_ADDRESS,
    temporal: temporalConnectionOptions(e.TEMPORAL_ADDRESS, e, 'control-plane'),
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    taskQueue: e.STEPGATE_APPROVALS_TASK_QUEUE,
    host: e.CONTROL_PLANE_HOST,
    port: e.CONTROL_PLANE_PORT,
    portalBaseUrl: e.PORTAL_BASE_URL,
    oidc: {
      issuer: e.OIDC_ISSUER_URL,
      clientId: e.OIDC_CLIENT_ID,
      clientSecret: e.OIDC_CLIENT_SECRET,
      audience: e.OIDC_AUDIENCE ?? e.OIDC_CLIENT_ID,
      principalClaim: e.OIDC_PRINCIPAL_CLAIM,
      groupsClaim: e.OIDC_GROUPS_CLAIM,
      groupsPrefix: e.OIDC_GROUPS_PREFIX,
      groupsSessionMaxSeconds: e.OIDC_GROUPS_SESSION_MAX_SECONDS,
      scopes: e.OIDC_SCOPES,
      allowInsecureHttp: e.OIDC_ALLOW_INSECURE_HTTP,
    },
    gatewayKeyFiles: e.STEPGATE_GATEWAY_KEY_FILES ?? [],
    cookieSecret: e.STEPGATE_COOKIE_SECRET,
    sessionTtlSeconds: e.STEPGATE_SESSION_TTL_SECONDS,
    corsOrigins: e.CONTROL_PLANE_CORS_ORIGINS,
    signInRatePerMinute: e.CONTROL_PLANE_SIGNIN_RATE_PER_MINUTE,
    apiRatePerMinute: {
      identity: e.CONTROL_PLANE_API_RATE_PER_MINUTE,
      anonymous: e.CONTROL_PLANE_API_ANONYMOUS_RATE_PER_MINUTE,
    },
    addressRatePerMinute: e.CONTROL_PLANE_ADDRESS_RATE_PER_MINUTE,
    rateLimitCacheSize: e.CONTROL_PLANE_RATE_LIMIT_CACHE_SIZE,
    allowLoopbackWebhooks: e.STEPGATE_WEBHOOK_ALLOW_LOOPBACK,
    metricsPort: e.METRICS_PORT,
    metricsHost: e.METRICS_HOST,
  };
}
