/**
 * Transport security for every process, from its settings: Kafka (TLS, SASL), Temporal (TLS/mTLS,
 * namespace, API key) and Postgres (sslmode, CA). One reader each, so services, the CLI, infra tools
 * and tests reach the same servers the same way.
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { KafkaSecurity, SaslMechanism } from '@stepgate/messaging';
import { z } from 'zod';
import { envField } from './settings/fields.js';
import { SettingsError } from './settings/read.js';

const file = (what: string) => z.string().trim().min(1, `expected the path of ${what}`);

export const KafkaSecurityEnvSchema = z.object({
  /** TLS to the brokers; on by itself when a CA or client certificate file is given. */
  KAFKA_SSL: envField.flag().optional(),
  KAFKA_SSL_CA_FILE: file('a PEM CA bundle').optional(),
  KAFKA_SSL_CERT_FILE: file('a PEM client certificate').optional(),
  KAFKA_SSL_KEY_FILE: file('a PEM client key').optional(),
  KAFKA_SSL_SERVER_NAME: envField.text().optional(),
  KAFKA_SASL_MECHANISM: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'], { error: 'expected plain, scram-sha-256 or scram-sha-512' })
    .optional(),
  KAFKA_SASL_USERNAME: envField.text().optional(),
  KAFKA_SASL_PASSWORD: envField.text().optional(),
  /** The password in a file (a mounted secret) instead of the environment. */
  KAFKA_SASL_PASSWORD_FILE: file('a file holding the SASL password').optional(),
});

export const TemporalTlsEnvSchema = z.object({
  TEMPORAL_TLS: envField.flag().optional(),
  TEMPORAL_TLS_CA_FILE: file('a PEM CA bundle').optional(),
  TEMPORAL_TLS_CERT_FILE: file('a PEM client certificate').optional(),
  TEMPORAL_TLS_KEY_FILE: file('a PEM client key').optional(),
  TEMPORAL_TLS_SERVER_NAME: envField.text().optional(),
  /** Temporal Cloud API key (sent as a bearer token; implies TLS). */
  TEMPORAL_API_KEY: envField.text().optional(),
});

export const PostgresTlsEnvSchema = z.object({
  /** As libpq's sslmode: disable, require (encrypted, unverified), verify-ca, verify-full. */
  DATABASE_SSLMODE: z
    .enum(['disable', 'require', 'verify-ca', 'verify-full'], {
      error: 'expected disable, require, verify-ca or verify-full',
    })
    .default('disable'),
  DATABASE_SSL_CA_FILE: file('a PEM CA bundle').optional(),
});

/** A transport setting that cannot be used, refused at startup like any other bad value (exit 78). */
function refuse(process: string, variable: string, expected: string): never {
  throw new SettingsError(process, [{ variable, expected, got: undefined }]);
}

function readPem(process: string, variable: string, path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    return refuse(
      process,
      variable,
      `a readable file (${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
    );
  }
}

export function kafkaSecurity(e: z.output<typeof KafkaSecurityEnvSchema>, process = 'stepgate'): KafkaSecurity {
  const security: KafkaSecurity = {};
  const ca = readPem(process, 'KAFKA_SSL_CA_FILE', e.KAFKA_SSL_CA_FILE);
  const cert = readPem(process, 'KAFKA_SSL_CERT_FILE', e.KAFKA_SSL_CERT_FILE);
  const key = readPem(process, 'KAFKA_SSL_KEY_FILE', e.KAFKA_SSL_KEY_FILE);
  if (!cert !== !key) refuse(process, 'KAFKA_SSL_KEY_FILE', 'set together with KAFKA_SSL_CERT_FILE (both or neither)');
  if (e.KAFKA_SSL === false && (ca || cert))
    refuse(process, 'KAFKA_SSL', 'true (or unset) when KAFKA_SSL_CA_FILE or KAFKA_SSL_CERT_FILE is given');
  if (ca || cert || e.KAFKA_SSL_SERVER_NAME)
    security.tls = {
      ...(ca ? { ca } : {}),
      ...(cert && key ? { cert, key } : {}),
      ...(e.KAFKA_SSL_SERVER_NAME ? { servername: e.KAFKA_SSL_SERVER_NAME } : {}),
    };
  else if (e.KAFKA_SSL) security.tls = true;

  const password =
    e.KAFKA_SASL_PASSWORD ??
    readPem(process, 'KAFKA_SASL_PASSWORD_FILE', e.KAFKA_SASL_PASSWORD_FILE)?.trim() ??
    undefined;
  const named = [e.KAFKA_SASL_MECHANISM, e.KAFKA_SASL_USERNAME, password].filter((v) => v !== undefined).length;
  if (named > 0 && named < 3)
    refuse(
      process,
      'KAFKA_SASL_MECHANISM',
      'set together with KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE): all three or none',
    );
  // SCRAM protects the password but not the session, and PLAIN sends it as is: SASL only inside TLS.
  if (named === 3 && !security.tls)
    refuse(
      process,
      'KAFKA_SASL_MECHANISM',
      'only with TLS (KAFKA_SSL=true or KAFKA_SSL_CA_FILE): SASL over plaintext exposes the credentials and the session',
    );
  if (named === 3)
    security.sasl = {
      mechanism: e.KAFKA_SASL_MECHANISM as SaslMechanism,
      username: e.KAFKA_SASL_USERNAME!,
      password: password!,
    };
  return security;
}

/** TLS and credentials for `Connection.connect` and `NativeConnection.connect` (both take this shape). */
export interface TemporalConnectionOptions {
  address: string;
  tls?:
    | true
    | {
        serverRootCACertificate?: Buffer;
        clientCertPair?: { crt: Buffer; key: Buffer };
        serverNameOverride?: string;
      };
  apiKey?: string;
}

export function temporalConnectionOptions(
  address: string,
  e: z.output<typeof TemporalTlsEnvSchema>,
  process = 'stepgate',
): TemporalConnectionOptions {
  const ca = readPem(process, 'TEMPORAL_TLS_CA_FILE', e.TEMPORAL_TLS_CA_FILE);
  const crt = readPem(process, 'TEMPORAL_TLS_CERT_FILE', e.TEMPORAL_TLS_CERT_FILE);
  const key = readPem(process, 'TEMPORAL_TLS_KEY_FILE', e.TEMPORAL_TLS_KEY_FILE);
  if (!crt !== !key)
    refuse(process, 'TEMPORAL_TLS_KEY_FILE', 'set together with TEMPORAL_TLS_CERT_FILE (both or neither)');
  const detailed = ca || crt || e.TEMPORAL_TLS_SERVER_NAME;
  if (e.TEMPORAL_TLS === false && (detailed || e.TEMPORAL_API_KEY))
    refuse(process, 'TEMPORAL_TLS', 'true (or unset) when TEMPORAL_TLS_* files or TEMPORAL_API_KEY are given');
  const options: TemporalConnectionOptions = { address };
  if (detailed)
    options.tls = {
      ...(ca ? { serverRootCACertificate: Buffer.from(ca) } : {}),
      ...(crt && key ? { clientCertPair: { crt: Buffer.from(crt), key: Buffer.from(key) } } : {}),
      ...(e.TEMPORAL_TLS_SERVER_NAME ? { serverNameOverride: e.TEMPORAL_TLS_SERVER_NAME } : {}),
    };
  else if (e.TEMPORAL_TLS || e.TEMPORAL_API_KEY) options.tls = true;
  if (e.TEMPORAL_API_KEY) options.apiKey = e.TEMPORAL_API_KEY;
  return options;
}

/** pg's `ssl` option for a libpq-style sslmode. */
export type PostgresSsl = false | TlsOptions;

export function postgresSsl(e: z.output<typeof PostgresTlsEnvSchema>, process = 'stepgate'): PostgresSsl {
  const ca = readPem(process, 'DATABASE_SSL_CA_FILE', e.DATABASE_SSL_CA_FILE);
  switch (e.DATABASE_SSLMODE) {
    case 'disable':
      if (ca)
        refuse(process, 'DATABASE_SSLMODE', 'require, verify-ca or verify-full when DATABASE_SSL_CA_FILE is given');
      return false;
    case 'require':
      // libpq's require: encrypted, the server's certificate unchecked (unless a CA is given, as libpq does).
      return ca ? { ca, checkServerIdentity: () => undefined } : { rejectUnauthorized: false };
    case 'verify-ca':
      return { ...(ca ? { ca } : {}), checkServerIdentity: () => undefined };
    case 'verify-full':
      return { ...(ca ? { ca } : {}), rejectUnauthorized: true };
  }
}
