/**
 * The secure mode for tests: the SASL_SSL broker and TLS on PostgreSQL (`stack.sh up --secure
 * kafka-secure`, idempotent and quick once up), their CA and principals, and a TLS-terminating proxy in
 * front of the plaintext Temporal dev server.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkKafka, checkPostgres } from '@stepgate/infra';
import type { KafkaSecurity } from '@stepgate/messaging';
import { Relay } from './relay.js';

const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface SecureStack {
  brokers: string[];
  /** The local CA's certificate (PEM), which signed the broker's, PostgreSQL's and the proxy's. */
  caPem: string;
  /** The directory of the CA and the issued certificates and keys. */
  pkiDir: string;
  /** TLS and SCRAM-SHA-512 as `user` (admin, evaluator, approvals, audit, control, orchestrator-demo, orchestrator-other). */
  as(user: string): KafkaSecurity;
  /** pg's `ssl` for verify-full against the local CA. */
  databaseSsl: { ca: string; rejectUnauthorized: true };
  /** A PEM file of the PKI directory. */
  pem(name: string): string;
}

function stack(args: string[], stderr: 'inherit' | 'ignore' = 'inherit'): { ok: boolean; stdout: string } {
  const run = spawnSync('bash', ['infra/local/stack.sh', ...args], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', stderr],
    env: process.env,
  });
  return { ok: run.status === 0, stdout: run.stdout };
}

/** The admin's settings of the secure broker (`stack.sh env-secure admin`), if it was ever set up. */
function adminEnv(): Record<string, string> | undefined {
  const { ok, stdout } = stack(['env-secure', 'admin'], 'ignore');
  if (!ok) return undefined;
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => line.includes('='))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** Whether the secure broker answers its admin, PostgreSQL answers over TLS, and the proxy has its certificates. */
async function secureStackAnswers(s: SecureStack, databaseUrl: string): Promise<boolean> {
  try {
    if (!existsSync(path.join(s.pkiDir, 'temporal-client.pem'))) return false;
    await checkKafka(s.brokers, s.as('admin'));
    await checkPostgres(databaseUrl, s.databaseSsl);
    return true;
  } catch {
    return false;
  }
}

/** The secure stack, started (and PostgreSQL's TLS turned on) only when it does not answer already. */
export async function secureStack(databaseUrl: string): Promise<SecureStack> {
  const env = adminEnv();
  const ready = env && fromEnv(env);
  if (ready && (await secureStackAnswers(ready, databaseUrl))) return ready;
  if (!stack(['up', '--secure', 'kafka-secure']).ok)
    throw new Error('infra/local/stack.sh up --secure kafka-secure failed (its output is above)');
  return fromEnv(adminEnv()!);
}

function fromEnv(env: Record<string, string>): SecureStack {
  const pkiDir = path.dirname(env.KAFKA_SSL_CA_FILE!);
  const usersDir = path.dirname(env.KAFKA_SASL_PASSWORD_FILE!);
  const caPem = readFileSync(env.KAFKA_SSL_CA_FILE!, 'utf8');
  return {
    brokers: env.KAFKA_BROKERS!.split(','),
    caPem,
    pkiDir,
    as: (user) => ({
      tls: { ca: caPem },
      sasl: {
        mechanism: 'scram-sha-512',
        username: user,
        password: readFileSync(path.join(usersDir, `${user}.password`), 'utf8').trim(),
      },
    }),
    databaseSsl: { ca: caPem, rejectUnauthorized: true },
    pem: (name) => readFileSync(path.join(pkiDir, name), 'utf8'),
  };
}

/**
 * A TLS-terminating proxy in front of Temporal's plaintext port: HTTP/2 (ALPN h2) with the local CA's
 * `temporal-proxy` certificate, requiring a client certificate of that CA (mTLS).
 */
export async function temporalTlsProxy(s: SecureStack, temporalAddress: string): Promise<Relay> {
  const [host, port] = temporalAddress.split(':');
  const relay = new Relay(
    { host: host!, port: Number(port) },
    {
      tls: {
        cert: s.pem('temporal-proxy.pem'),
        key: s.pem('temporal-proxy.key'),
        ca: s.caPem,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
      },
    },
  );
  await relay.open();
  return relay;
}
