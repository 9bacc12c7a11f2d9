/**
 * What the gate-pipeline benchmarks share: a tenant set up with the real CLI commands (keygen,
 * credentials create, apply) in a schema and topic prefix of its own, evaluator processes started
 * from the service's entry point, a backlog of signed requests, and a count of the decisions.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { newRequestId } from '@stepgate/client';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Admin, Kafka } from 'kafkajs';
import { HEADER_KEY_ID, HEADER_SIGNATURE, topicsFor, type TopicName } from '@stepgate/contracts';
import { privateKeyFromPem, signBytes } from '@stepgate/contracts/node';
import { migrate, type Endpoints } from '@stepgate/infra';
import { TopicAdmin } from '@stepgate/messaging';
import { run } from '@stepgate/cli';
import { benchDb, benchKafka } from './transport.js';

/** Release pipelines on the example tenant's allowlist, for the load spread over many workflows. */
export const WORKFLOWS = 64;

export interface PipelineFixture {
  id: string;
  prefix: string;
  topics: Record<TopicName, string>;
  /** The bench's working directory: evaluator keys, the credential file, the bundle. */
  dir: string;
  kafka: Kafka;
  credential: { key_id: string; private_key_pem: string };
  evaluatorPublicKeyPem: string;
  /** Environment of an evaluator process of this fixture (its group, keys, schema and prefix). */
  evaluatorEnv(instance: string): NodeJS.ProcessEnv;
  close(): Promise<void>;
}

const silent = { out: () => undefined, err: (t: string) => void process.stderr.write(t), cwd: '' };

export async function openPipelineFixture(endpoints: Endpoints): Promise<PipelineFixture> {
  const id = `bench_${randomBytes(4).toString('hex')}`;
  const prefix = `bench.${id}.`;
  const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-bench-'));
  const io = { ...silent, cwd: dir };
  const db = benchDb(endpoints);
  await db.connect();
  await migrate(db, { schema: id });
  const kafka = benchKafka(id, endpoints);
  const admin: Admin = kafka.admin();
  await admin.connect();
  await new TopicAdmin(admin).ensureTopics({ prefix });
  Object.assign(process.env, {
    DATABASE_URL: endpoints.databaseUrl,
    STEPGATE_DB_SCHEMA: id,
    KAFKA_BROKERS: endpoints.kafkaBrokers.join(','),
    STEPGATE_TOPIC_PREFIX: prefix,
  });
  await run(['keygen', '--private', 'evaluator.pem', '--public', 'evaluator.pub.pem'], io);
  await run(['credentials', 'create', '--tenant', 'acme', '--principal', 'bench', '--out', 'bench.json'], io);
  // The example tenant's bundle, its allowlist widened to the release pipelines of the spread workload.
  const bundle = JSON.parse(await readFile(path.resolve('examples/acme/bundle.json'), 'utf8')) as {
    workflow_access: { allowed_workflows: string[] };
  };
  bundle.workflow_access.allowed_workflows.push(
    ...Array.from({ length: WORKFLOWS }, (_, i) => `release-pipeline-${i}`),
  );
  await writeFile(path.join(dir, 'bundle.json'), JSON.stringify(bundle));
  await run(['apply', '--bundle', 'bundle.json'], io);
  const topics = topicsFor(prefix);
  return {
    id,
    prefix,
    topics,
    dir,
    kafka,
    credential: JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as PipelineFixture['credential'],
    evaluatorPublicKeyPem: await readFile(path.join(dir, 'evaluator.pub.pem'), 'utf8'),
    evaluatorEnv: (instance) => ({
      ...process.env,
      STEPGATE_EVALUATOR_KEY_FILE: path.join(dir, 'evaluator.pem'),
      STEPGATE_EVALUATOR_GROUP: `${id}.evaluator`,
      STEPGATE_INSTANCE_ID: `${id}-${instance}`,
    }),
    close: async () => {
      await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
      await admin.disconnect();
      await db.query(`drop schema if exists ${id} cascade`);
      await db.end();
    },
  };
}

/** A gate step of the bench workload: one workflow, or spread over `workflows` release pipelines. */
export function benchStep(i: number, workflows = 1) {
  return {
    workflow_id: workflows === 1 ? 'release-pipeline' : `release-pipeline-${i % workflows}`,
    step_id: `s-${i}-${randomUUID().slice(0, 6)}`,
    step_type: 'llm_call' as const,
    model: 'claude-sonnet',
    provider: 'anthropic',
  };
}

/** The signed request messages of a backlog, as an orchestrator sends them (keys over 64 workflows). */
export function signedRequests(f: PipelineFixture, count: number, from = 0) {
  const key = privateKeyFromPem(f.credential.private_key_pem);
  return Array.from({ length: count }, (_, i) => {
    const value = Buffer.from(
      JSON.stringify({
        ...benchStep(from + i),
        request_id: newRequestId(), // as the clients make them: UUIDv7
        requested_at: new Date().toISOString(),
      }),
    );
    return {
      key: `wf-${(from + i) % WORKFLOWS}`,
      value,
      headers: { [HEADER_KEY_ID]: f.credential.key_id, [HEADER_SIGNATURE]: signBytes(key, value) },
    };
  });
}

/** Publishes `count` signed requests to the fixture's request topic, a thousand per send. */
export async function preloadBacklog(f: PipelineFixture, count: number): Promise<void> {
  const producer = f.kafka.producer();
  await producer.connect();
  for (let sent = 0; sent < count; sent += 1000)
    await producer.send({
      topic: f.topics['gate.requests'],
      messages: signedRequests(f, Math.min(1000, count - sent), sent),
    });
  await producer.disconnect();
}

/** The Node flags the services run with (scripts/dev.ts, docs/operations.md). */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=32'];

/** Node flags from a space-separated setting, or the services' own when it is unset. */
export function nodeFlagsFrom(setting: string | undefined): string[] {
  return setting === undefined ? SERVICE_NODE_FLAGS : setting.split(' ').filter(Boolean);
}

/**
 * An evaluator process from the service's entry point, resolved once it has joined its group; from
 * another `checkout` of the repository (its dependencies installed) to compare two versions, and
 * with other Node flags (`nodeFlags`, the services' own by default) to compare settings. Its log
 * goes to `$STEPGATE_BENCH_EVALUATOR_LOG/evaluator.<pid>.log` when that directory is set.
 */
export interface EvaluatorSource {
  checkout?: string | undefined;
  nodeFlags?: string[] | undefined;
  /** Settings of the evaluator's environment over the bench's own (e.g. STEPGATE_GATES_PER_TRANSACTION). */
  env?: Record<string, string> | undefined;
}

/** Environment settings from a space-separated list of NAME=value. */
export function envFrom(setting: string | undefined): Record<string, string> {
  const pairs = (setting ?? '').split(' ').filter(Boolean);
  return Object.fromEntries(
    pairs.map((pair) => {
      const at = pair.indexOf('=');
      if (at < 1) throw new Error(`expected NAME=value, got ${pair}`);
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}

export function startEvaluatorProcess(env: NodeJS.ProcessEnv, from: EvaluatorSource = {}): Promise<ChildProcess> {
  const checkout = from.checkout ?? process.cwd();
  const profile = process.env.STEPGATE_BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.STEPGATE_BENCH_PROFILE}`]
    : [];
  const child = spawn(
    process.execPath,
    [
      ...profile,
      ...(from.nodeFlags ?? SERVICE_NODE_FLAGS),
      '--conditions=source',
      '--import',
      'tsx',
      ...(process.env.STEPGATE_BENCH_ALLOC_PROFILE ? ['--import', path.resolve('bench/allocation-sampling.ts')] : []),
      'services/evaluator/src/main.ts',
    ],
    { env: { ...env, ...from.env }, cwd: checkout, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const logDir = process.env.STEPGATE_BENCH_EVALUATOR_LOG;
  if (logDir) child.stdout.pipe(createWriteStream(path.join(logDir, `evaluator.${String(child.pid)}.log`)));
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('evaluator running') && resolve(child));
    child.once('exit', (code) => reject(new Error(`evaluator exited with ${String(code)}`)));
  });
}

export async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

export interface CountedMessages {
  /** When the first and the last of them were read. */
  first: number;
  last: number;
  meanBytes: number;
}

/**
 * Counts the messages published on `topic` from now on: resolves, once the topic's ends are known, with
 * a promise of when `count` of them have been read.
 */
export async function watchNewMessages(
  kafka: Kafka,
  topic: string,
  count: number,
): Promise<{ done: Promise<CountedMessages> }> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  return { done: countFrom(kafka, topic, ends, count) };
}

async function countFrom(
  kafka: Kafka,
  topic: string,
  ends: Array<{ partition: number; high: string }>,
  count: number,
): Promise<CountedMessages> {
  const consumer = kafka.consumer({ groupId: `count-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  let bytes = 0;
  let first = 0;
  const last = await new Promise<number>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        if (seen === 0) first = performance.now();
        seen += batch.messages.length;
        for (const m of batch.messages) bytes += m.value?.length ?? 0;
        if (seen >= count) resolve(performance.now());
      },
    });
    for (const p of ends) consumer.seek({ topic, partition: p.partition, offset: p.high });
  });
  await consumer.disconnect();
  return { first, last, meanBytes: bytes / seen };
}
