/**
 * `npm run dev [-- --auto-approve] [-- --exit] [-- --secure]`: the whole governed pipeline on this machine.
 * `--secure`: over the secure broker (SASL_SSL, each service, the CLI and the orchestrator as their own
 * Kafka user under ACLs, per-tenant decision topics) and PostgreSQL over TLS (`stack.sh up --secure`).
 * Starts Kafka, Temporal and Postgres (infra/local, or Docker Compose with --docker), sets up a demo
 * tenant idempotently, runs the evaluator, approvals and audit services as supervised processes, and
 * drives the demo orchestrator through them. Ctrl-C stops everything.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import pg from 'pg';
import { approverCredential, Approvers } from '@stepgate/approvals-client';
import { run, type Io } from '@stepgate/cli';
import { GateClient } from '@stepgate/client';
import { endpointsFromEnv, provision } from '@stepgate/infra';
import { startDevProvider, type DevUser } from '@stepgate/control-plane';
import { KafkaSecurityEnvSchema, kafkaSecurity, readSettings } from '@stepgate/runtime';
import { CredentialsRepository, IdentitiesRepository } from '@stepgate/store';
import { runDemo } from '../examples/demo/orchestrator.js';

/** What `stepgate credentials create` writes (the demo approvers' keys are such files in the state dir). */
type ApproverKeyFile = Parameters<typeof approverCredential>[0];

const root = fileURLToPath(new URL('..', import.meta.url));
const args = new Set(process.argv.slice(2));
const autoApprove = args.has('--auto-approve');
const exitAfterDemo = args.has('--exit');
const secure = args.has('--secure');
const endpoints = endpointsFromEnv();
const stateDir = process.env.STEPGATE_DEV_DIR ?? path.join(homedir(), '.local', 'state', 'stepgate', 'dev');
const TENANT = 'demo';
/** The embedded OpenID Connect provider, the portal, and the people who sign in there (dev only). */
const OIDC_PORT = 9400;
const PORTAL = 'http://127.0.0.1:8080/';
const OIDC_CLIENT = 'stepgate-portal';
const PEOPLE: ReadonlyArray<DevUser & { tenant: string; roles: string }> = [
  {
    login: 'alice',
    password: 'alice-demo',
    email: 'alice@demo.example',
    name: 'Alice',
    tenant: TENANT,
    roles: 'approver,admin,auditor',
  },
  { login: 'bob', password: 'bob-demo', email: 'bob@demo.example', name: 'Bob', tenant: TENANT, roles: 'approver' },
  {
    login: 'carol',
    password: 'carol-demo',
    email: 'carol@globex.example',
    name: 'Carol',
    tenant: 'globex',
    roles: 'approver',
  },
];
const say = (line: string) => console.log(`\x1b[1m[dev]\x1b[0m ${line}`);

async function startInfrastructure(): Promise<void> {
  const useDocker = args.has('--docker');
  if (useDocker && secure)
    throw new Error('--secure runs the native secure stack; with Docker, use docker-compose.secure.yml (README)');
  if (useDocker && spawnSync('docker', ['info'], { stdio: 'ignore' }).status !== 0)
    throw new Error('--docker: no Docker engine answers on this machine; run without --docker for the native stack');
  const up = useDocker
    ? spawnSync('docker', ['compose', 'up', '-d', '--wait'], { cwd: root, stdio: 'inherit' })
    : spawnSync('bash', ['infra/local/stack.sh', 'up', ...(secure ? ['--secure'] : [])], {
        cwd: root,
        stdio: 'inherit',
      });
  if (up.status !== 0) throw new Error('the services did not start (see above)');
  // stack.sh provisions by itself; with Docker, apply the migrations and create the topics here.
  if (useDocker) await provision(endpoints, process.env.STEPGATE_TOPIC_PREFIX);
}

/** With --secure, the settings of Kafka user `user` (secure broker, CA, SCRAM) and of TLS PostgreSQL; else none. */
function secureEnv(user: string): Record<string, string> {
  if (!secure) return {};
  const out = spawnSync('bash', ['infra/local/stack.sh', 'env-secure', user], { cwd: root, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`no secure-mode settings for ${user}: ${out.stderr.trim()}`);
  const lines = out.stdout.split('\n').filter((line) => line.includes('='));
  return {
    ...Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)])),
    STEPGATE_TENANT_DECISION_TOPICS: 'true',
  };
}

const quietIo: Io = { out: () => undefined, err: (t) => void process.stderr.write(t), cwd: stateDir };

async function cli(argv: string[], io = quietIo): Promise<void> {
  const code = await run(argv, io);
  if (code !== 0) throw new Error(`stepgate ${argv[0]} ${argv[1] ?? ''} failed (exit ${code})`);
}

/** Keys and credentials live in the state dir; each is (re)created only when missing here or in Postgres. */
async function setUpDemoTenant(db: pg.Client): Promise<{
  orchestrator: string;
  alice: string;
  bob: string;
  gateway: string;
  evaluatorKey: string;
  evaluatorPub: string;
}> {
  mkdirSync(stateDir, { recursive: true });
  const evaluatorKey = path.join(stateDir, 'receipt-key.pem');
  const evaluatorPub = path.join(stateDir, 'receipt-key.pub.pem');
  if (!existsSync(evaluatorKey)) await cli(['keygen', '--private', evaluatorKey, '--public', evaluatorPub], quietIo);
  const credential = async (principal: string, roles?: string, tenant = TENANT) => {
    const file = path.join(stateDir, `${principal}.json`);
    const keyId = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { key_id: string }).key_id : undefined;
    const known = keyId ? await new CredentialsRepository(db).isActive(keyId) : false;
    if (!known)
      await cli(
        [
          'credentials',
          'create',
          '--tenant',
          tenant,
          '--principal',
          principal,
          '--out',
          file,
          ...(roles ? ['--roles', roles] : []),
        ],
        quietIo,
      );
    return file;
  };
  const orchestrator = await credential('release-orchestrator');
  // The demo approvers' keys: approvals take effect only with a statement signed by one of them.
  const alice = await credential('alice', PEOPLE[0]!.roles);
  const bob = await credential('bob', PEOPLE[1]!.roles);
  await credential('carol', PEOPLE[2]!.roles, PEOPLE[2]!.tenant);
  // The portal approves with this credential, attesting the signed-in person in each statement.
  const gateway = await credential('portal-gateway', 'approval_gateway');
  const identities = new IdentitiesRepository(db);
  for (const p of PEOPLE)
    await identities.link({
      issuer: `http://127.0.0.1:${OIDC_PORT}`,
      claimValue: p.email,
      tenantId: p.tenant,
      principal: p.login,
    });
  await cli(['apply', '--bundle', path.join(root, 'examples/demo/bundle.json'), '--as', 'npm-run-dev'], {
    ...quietIo,
    out: (t: string) => say(t.trim()),
  });
  return { orchestrator, alice, bob, gateway, evaluatorKey, evaluatorPub };
}

/**
 * Services left running by a previous `npm run dev` that was killed (its children outlive it) are
 * stopped first: they would hold the metrics ports and consume alongside the new ones.
 */
function stopLeftovers(): void {
  const file = path.join(stateDir, 'services.pids');
  if (!existsSync(file)) return;
  for (const pid of readFileSync(file, 'utf8').split('\n').filter(Boolean).map(Number)) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue; // gone already
    }
    if (!/services\/(evaluator|approvals|audit|control-plane)\/src\/main\.ts/.test(cmdline)) continue; // the pid was reused
    say(`stopping a leftover service from an earlier run (pid ${pid})`);
    process.kill(pid, 'SIGKILL');
  }
  writeFileSync(file, '');
}

function rememberPid(pid: number | undefined): void {
  if (pid !== undefined) appendFileSync(path.join(stateDir, 'services.pids'), `${pid}\n`);
}

interface Supervised {
  name: string;
  child?: ChildProcess;
  stopping: boolean;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS: Record<string, string> = { evaluator: '36', approvals: '35', audit: '33', 'control-plane': '32' };

/** One line per log record, prefixed by the service: pino's JSON becomes `LEVEL msg key=value`. */
function prefixLines(name: string, stream: NodeJS.ReadableStream): void {
  const prefix = `\x1b[${COLORS[name] ?? '37'}m[${name}]\x1b[0m`;
  createInterface({ input: stream }).on('line', (line) => {
    try {
      const {
        level,
        msg,
        time: _time,
        pid: _pid,
        hostname: _host,
        name: _name,
        instance: _instance,
        ...rest
      } = JSON.parse(line) as Record<string, unknown>;
      const extra = Object.entries(rest)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      console.log(
        `${prefix} ${LEVELS[level as number] ?? ''} ${typeof msg === 'string' ? msg : ''}${extra ? `  ${extra}` : ''}`,
      );
    } catch {
      console.log(`${prefix} ${line}`);
    }
  });
}

function supervise(name: string, env: NodeJS.ProcessEnv): Supervised {
  const s: Supervised = { name, stopping: false };
  const restarts: number[] = [];
  const start = () => {
    const child = spawn(
      process.execPath,
      ['--max-semi-space-size=32', '--conditions=source', '--import', 'tsx', `services/${name}/src/main.ts`],
      { cwd: root, env: { ...process.env, ...env } },
    );
    rememberPid(child.pid);
    prefixLines(name, child.stdout);
    prefixLines(name, child.stderr);
    child.on('exit', (code, signal) => {
      if (s.stopping) return;
      const now = Date.now();
      restarts.push(now);
      while (restarts[0]! < now - 60_000) restarts.shift();
      if (restarts.length > 5) {
        say(`${name} exited (${signal ?? code}) 6 times within a minute; not restarting it`);
        return;
      }
      say(`${name} exited (${signal ?? code}); restarting in 1 s`);
      setTimeout(start, 1_000);
    });
    s.child = child;
  };
  start();
  return s;
}

async function waitForMetrics(name: string, port: number): Promise<void> {
  for (const end = Date.now() + 120_000; ;) {
    const ok = await fetch(`http://127.0.0.1:${port}/metrics`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > end) throw new Error(`${name} did not become ready (no /metrics on port ${port})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function stopAll(services: Supervised[]): Promise<void> {
  await Promise.all(
    services.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.stopping = true;
          const child = s.child;
          if (!child || child.exitCode !== null) return resolve();
          const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
          child.once('exit', () => (clearTimeout(kill), resolve()));
          child.kill('SIGTERM');
        }),
    ),
  );
}

const db = new pg.Client({
  connectionString: endpoints.databaseUrl,
  ...(endpoints.databaseSsl ? { ssl: endpoints.databaseSsl } : {}),
});
const demo = await (async () => {
  try {
    await startInfrastructure();
    // The CLI, in this process, acts as the control plane's Kafka user.
    Object.assign(process.env, secureEnv('control'));
    await db.connect();
    const demo = await setUpDemoTenant(db);
    stopLeftovers();
    return demo;
  } catch (err) {
    say(`failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
})();

const PORTS = { evaluator: 9464, approvals: 9465, audit: 9466, 'control-plane': 9467 } as const;
/** Kept in the state dir, so portal sessions and sign-ins survive a restart of `npm run dev`. */
function devSecret(name: string): string {
  const file = path.join(stateDir, name);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600 });
  return readFileSync(file, 'utf8').trim();
}
const oidcSecret = devSecret('oidc-client-secret');
const oidc = await startDevProvider({
  port: OIDC_PORT,
  clientId: OIDC_CLIENT,
  clientSecret: oidcSecret,
  redirectUris: [new URL('auth/callback', PORTAL).href],
  users: PEOPLE,
});
const common = {
  KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
  DATABASE_URL: endpoints.databaseUrl,
  TEMPORAL_ADDRESS: endpoints.temporalAddress,
  STEPGATE_SIGNING_KEY_ID: 'stepgate-dev',
};
const services = [
  supervise('evaluator', {
    ...common,
    ...secureEnv('evaluator'),
    STEPGATE_EVALUATOR_KEY_FILE: demo.evaluatorKey,
    STEPGATE_EVALUATOR_KEY_ID: 'stepgate-dev',
    PORTAL_BASE_URL: PORTAL,
    METRICS_PORT: String(PORTS.evaluator),
  }),
  supervise('approvals', {
    ...common,
    ...secureEnv('approvals'),
    STEPGATE_SIGNING_KEY_FILE: demo.evaluatorKey,
    METRICS_PORT: String(PORTS.approvals),
  }),
  supervise('audit', { ...common, ...secureEnv('audit'), METRICS_PORT: String(PORTS.audit) }),
  supervise('control-plane', {
    ...common,
    PORTAL_BASE_URL: PORTAL,
    OIDC_ISSUER_URL: oidc.issuer,
    OIDC_CLIENT_ID: OIDC_CLIENT,
    OIDC_CLIENT_SECRET: oidcSecret,
    OIDC_ALLOW_INSECURE_HTTP: 'true',
    OIDC_PRINCIPAL_CLAIM: 'email',
    STEPGATE_GATEWAY_KEY_FILES: demo.gateway,
    STEPGATE_COOKIE_SECRET: devSecret('cookie-secret'),
    METRICS_PORT: String(PORTS['control-plane']),
  }),
];
let stopping = false;
const shutdown = async (code: number) => {
  if (stopping) return;
  stopping = true;
  say('stopping the services (Kafka, Temporal and Postgres keep running; `npm run infra:down` stops them)');
  await stopAll(services);
  await oidc.close();
  await db.end().catch(() => undefined);
  process.exit(code);
};
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));

try {
  await Promise.all(Object.entries(PORTS).map(([name, port]) => waitForMetrics(name, port)));
  say(
    `services ready; metrics at ${Object.entries(PORTS)
      .map(([n, p]) => `${n} http://127.0.0.1:${p}/metrics`)
      .join(', ')}; receipt keys at http://127.0.0.1:${PORTS.evaluator}/receipt-keys`,
  );
  say(`portal: ${PORTAL}  (API: ${PORTAL}api/v1, OpenAPI: ${PORTAL}api/openapi.json)`);
  say(
    `sign in at the embedded provider (${oidc.issuer}) as ${PEOPLE.map((p) => `${p.login} / ${p.password} (${p.tenant}: ${p.roles})`).join(', ')}`,
  );

  const { orchestrator, evaluatorPub } = demo;
  const cred = JSON.parse(readFileSync(orchestrator, 'utf8')) as { key_id: string; private_key_pem: string };
  const orchestratorEnv = secureEnv('orchestrator-demo');
  const gate = new GateClient({
    brokers: secure ? orchestratorEnv.KAFKA_BROKERS!.split(',') : endpoints.kafkaBrokers,
    ...(secure
      ? { kafka: kafkaSecurity(readSettings('dev', KafkaSecurityEnvSchema, orchestratorEnv)), tenantId: TENANT }
      : {}),
    keyId: cred.key_id,
    privateKeyPem: cred.private_key_pem,
    evaluatorPublicKeyPem: readFileSync(evaluatorPub, 'utf8'),
  });
  await gate.connect();
  const connection = await Connection.connect({ ...endpoints.temporalTls, address: endpoints.temporalAddress });
  const approvers = new Approvers(new Client({ connection }));
  const { workflowId } = await runDemo({
    gate,
    log: say,
    approverKeyFile: demo.alice,
    async onApprovalNeeded(approvalId, command) {
      if (autoApprove) {
        for (const end = Date.now() + 30_000; !(await approvers.status(approvalId).catch(() => undefined));) {
          if (Date.now() > end) throw new Error(`approval ${approvalId} never started`);
          await new Promise((r) => setTimeout(r, 200));
        }
        const credential = approverCredential(JSON.parse(readFileSync(demo.alice, 'utf8')) as ApproverKeyFile);
        const state = await approvers.approve(approvalId, {
          credential,
          comment: 'Auto-approved by npm run dev -- --auto-approve',
        });
        say(`    approved as ${state.decided_by} (--auto-approve)`);
        return;
      }
      say(
        `    approval ${approvalId} is waiting for a human. Open ${PORTAL}approvals/${approvalId} (sign in as bob / bob-demo), or in another terminal:`,
      );
      say(`      ${command}`);
      say(
        `    (or reject it: npm run stepgate -- approvals reject <id> --key ${demo.bob} --reason "…"; list: npm run stepgate -- approvals list)`,
      );
    },
  });
  await gate.disconnect();
  await connection.close();

  for (const end = Date.now() + 15_000; ;) {
    const { rows } = await db.query<{ n: number }>(
      'select count(*)::int as n from audit_log where tenant_id = $1 and workflow_id = $2',
      [TENANT, workflowId],
    );
    if (rows[0]!.n >= 8 || Date.now() > end) {
      say(
        `audit: ${rows[0]!.n} rows for ${workflowId} in Postgres table audit_log (${endpoints.databaseUrl.replace(/:[^:@/]+@/, ':***@')})`,
      );
      break;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  say(
    `export them: npm run stepgate -- audit export --tenant ${TENANT} --workflow ${workflowId} --format csv   (or jsonl, cef)`,
  );
  say(`verify the hash chain: npm run stepgate -- audit verify --tenant ${TENANT}`);
  if (exitAfterDemo) await shutdown(0);
  else say('the services keep running for you to explore; Ctrl-C stops them');
} catch (err) {
  say(`failed: ${err instanceof Error ? err.message : String(err)}`);
  await shutdown(1);
}
