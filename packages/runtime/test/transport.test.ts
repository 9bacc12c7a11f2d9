import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { kafkajsSecurity } from '@stepgate/messaging';
import {
  ApprovalsEnvSchema,
  CliEnvSchema,
  kafkaSecurity,
  postgresSsl,
  readSettings,
  serviceEnv,
  SettingsError,
  temporalConnectionOptions,
} from '../src/index.js';

const dir = mkdtempSync(path.join(tmpdir(), 'stepgate-transport-'));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
};
const CA = file('ca.pem', '-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n');
const CERT = file('client.pem', 'client-cert');
const KEY = file('client.key', 'client-key');
const PASSWORD = file('password', 's3cret\n');

const cli = (env: Record<string, string>) => readSettings('stepgate', CliEnvSchema, env);

/** The SettingsError `run` throws (the test fails on anything else). */
function refused(run: () => unknown): SettingsError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(SettingsError);
  return caught as SettingsError;
}

describe('Kafka transport settings', () => {
  it('is plaintext and unauthenticated when nothing is set', () => {
    expect(kafkaSecurity(cli({}))).toEqual({});
  });

  it('reads TLS (CA, client certificate) and SCRAM credentials, the password from a file', () => {
    const security = kafkaSecurity(
      cli({
        KAFKA_SSL_CA_FILE: CA,
        KAFKA_SSL_CERT_FILE: CERT,
        KAFKA_SSL_KEY_FILE: KEY,
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'evaluator',
        KAFKA_SASL_PASSWORD_FILE: PASSWORD,
      }),
    );
    expect(security).toEqual({
      tls: { ca: expect.stringContaining('BEGIN CERTIFICATE'), cert: 'client-cert', key: 'client-key' },
      sasl: { mechanism: 'scram-sha-512', username: 'evaluator', password: 's3cret' },
    });
    expect(kafkajsSecurity(security)).toMatchObject({
      ssl: { rejectUnauthorized: true, ca: [expect.stringContaining('BEGIN')], cert: 'client-cert' },
      sasl: { mechanism: 'scram-sha-512', username: 'evaluator' },
    });
  });

  it('KAFKA_SSL=true alone is TLS with the system CAs; PLAIN is accepted', () => {
    const s = kafkaSecurity(
      cli({ KAFKA_SSL: 'true', KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }),
    );
    expect(s).toEqual({ tls: true, sasl: { mechanism: 'plain', username: 'u', password: 'p' } });
    expect(kafkajsSecurity(s).ssl).toBe(true);
  });

  it('refuses half-given credentials, SASL without TLS, unknown mechanisms, unreadable files, and never echoes a password', () => {
    expect(refused(() => kafkaSecurity(cli({ KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p' }))).problems).toEqual([
      expect.objectContaining({ variable: 'KAFKA_SASL_MECHANISM', got: undefined }),
    ]);
    expect(refused(() => kafkaSecurity(cli({ KAFKA_SSL_CERT_FILE: CERT }))).problems[0]!.variable).toBe(
      'KAFKA_SSL_KEY_FILE',
    );
    expect(
      refused(() => kafkaSecurity(cli({ KAFKA_SSL_CA_FILE: path.join(dir, 'missing.pem') }))).problems[0],
    ).toMatchObject({
      variable: 'KAFKA_SSL_CA_FILE',
      expected: expect.stringContaining('ENOENT'),
    });
    expect(refused(() => kafkaSecurity(cli({ KAFKA_SSL: 'false', KAFKA_SSL_CA_FILE: CA }))).problems[0]!.variable).toBe(
      'KAFKA_SSL',
    );
    const plaintext = refused(() =>
      kafkaSecurity(cli({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'hunter2' })),
    );
    expect(plaintext.problems.map((p) => p.variable)).toEqual(['KAFKA_SASL_MECHANISM']);
    expect(plaintext.message).not.toContain('hunter2');
    expect(
      refused(() =>
        kafkaSecurity(
          cli({
            KAFKA_SSL: 'false',
            KAFKA_SASL_MECHANISM: 'scram-sha-512',
            KAFKA_SASL_USERNAME: 'u',
            KAFKA_SASL_PASSWORD: 'p',
          }),
        ),
      ).problems[0]!.variable,
    ).toBe('KAFKA_SASL_MECHANISM');
    const bad = refused(() => cli({ KAFKA_SASL_MECHANISM: 'gssapi', KAFKA_SASL_PASSWORD: 'hunter2' }));
    expect(bad.problems.map((p) => p.variable)).toEqual(['KAFKA_SASL_MECHANISM']);
    expect(bad.message).not.toContain('hunter2');
  });

  it('reaches every service through serviceEnv, with per-tenant decisions off by default', () => {
    const e = readSettings('approvals', ApprovalsEnvSchema, { KAFKA_SSL: 'true', DATABASE_SSLMODE: 'require' });
    const env = serviceEnv('approvals', e);
    expect(env.kafkaSecurity).toEqual({ tls: true });
    expect(env.databaseSsl).toEqual({ rejectUnauthorized: false });
    expect(env.tenantDecisionTopics).toBe(false);
  });
});

describe('Temporal transport settings', () => {
  it('plaintext by default; TLS with a CA and client certificate; an API key implies TLS', () => {
    expect(temporalConnectionOptions('t:7233', cli({}))).toEqual({ address: 't:7233' });
    expect(
      temporalConnectionOptions(
        't:7233',
        cli({
          TEMPORAL_TLS_CA_FILE: CA,
          TEMPORAL_TLS_CERT_FILE: CERT,
          TEMPORAL_TLS_KEY_FILE: KEY,
          TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
        }),
      ),
    ).toEqual({
      address: 't:7233',
      tls: {
        serverRootCACertificate: expect.any(Buffer),
        clientCertPair: { crt: Buffer.from('client-cert'), key: Buffer.from('client-key') },
        serverNameOverride: 'temporal.internal',
      },
    });
    expect(temporalConnectionOptions('ns.tmprl.cloud:7233', cli({ TEMPORAL_API_KEY: 'k' }))).toEqual({
      address: 'ns.tmprl.cloud:7233',
      tls: true,
      apiKey: 'k',
    });
  });

  it('refuses a certificate without its key and an API key with TLS off', () => {
    expect(
      refused(() => temporalConnectionOptions('t:1', cli({ TEMPORAL_TLS_CERT_FILE: CERT }))).problems[0]!.variable,
    ).toBe('TEMPORAL_TLS_KEY_FILE');
    expect(
      refused(() => temporalConnectionOptions('t:1', cli({ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' })))
        .problems[0]!.variable,
    ).toBe('TEMPORAL_TLS');
  });
});

describe('Postgres transport settings', () => {
  it('maps sslmode as libpq does', () => {
    expect(postgresSsl(cli({}))).toBe(false);
    expect(postgresSsl(cli({ DATABASE_SSLMODE: 'require' }))).toEqual({ rejectUnauthorized: false });
    expect(postgresSsl(cli({ DATABASE_SSLMODE: 'verify-full', DATABASE_SSL_CA_FILE: CA }))).toEqual({
      ca: expect.stringContaining('BEGIN'),
      rejectUnauthorized: true,
    });
    const verifyCa = postgresSsl(cli({ DATABASE_SSLMODE: 'verify-ca', DATABASE_SSL_CA_FILE: CA }));
    expect(verifyCa && verifyCa.checkServerIdentity?.('other-host', {} as never)).toBeUndefined();
  });

  it('refuses an unknown mode, and a CA with TLS disabled', () => {
    expect(refused(() => cli({ DATABASE_SSLMODE: 'prefer' })).problems[0]!.variable).toBe('DATABASE_SSLMODE');
    expect(refused(() => postgresSsl(cli({ DATABASE_SSL_CA_FILE: CA }))).problems[0]!.variable).toBe(
      'DATABASE_SSLMODE',
    );
  });
});
