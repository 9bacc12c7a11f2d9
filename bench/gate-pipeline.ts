/**
 * The gate pipeline on the real broker and Postgres: round-trip latency through one evaluator
 * process at fixed rates, and the sustained rate at which one evaluator drains a backlog. Setup uses
 * the real CLI commands (keygen, credentials create, apply) in a schema and topic prefix of its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { GateClient } from '@stepgate/client';
import { HEADER_KEY_ID, HEADER_SIGNATURE, topicsFor } from '@stepgate/contracts';
import { privateKeyFromPem, signBytes } from '@stepgate/contracts/node';
import { migrate, type Endpoints } from '@stepgate/infra';
import { TopicAdmin } from '@stepgate/messaging';
import { run } from '@stepgate/cli';
import { summarize, type LatencySummary } from './stats.js';

const WORKFLOWS = 64;

export interface PipelineBench {
  roundTrips: Array<{ rate: number; workflows: number } & LatencySummary>;
  /** `seconds` from the evaluator's spawn (startup and group join included) to the last decision; `perSecond` from its joining the group to the last decision. */
  sustained: { gates: number; seconds: number; perSecond: number };
}

const silent = { out: () => undefined, err: (t: string) => void process.stderr.write(t), cwd: '' };

export async function benchGatePipeline(
  endpoints: Endpoints,
  rates: number[],
  perRate: number,
  backlog: number,
): Promise<PipelineBench> {
  const id = `bench_${randomBytes(4).toString('hex')}`;
  const prefix = `bench.${id}.`;
  const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-bench-'));
  const io = { ...silent, cwd: dir };
  const db = new pg.Client({ connectionString: endpoints.databaseUrl });
  await db.connect();
  await migrate(db, { schema: id });
  const kafka = new Kafka({ clientId: id, brokers: endpoints.kafkaBrokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
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
  // The example tenant's bundle, its allowlist widened to 64 release pipelines for the spread workload.
  const bundle = JSON.parse(await readFile(path.resolve('examples/acme/bundle.json'), 'utf8')) as {
    workflow_access: { allowed_workflows: string[] };
  };
  bundle.workflow_access.allowed_workflows.push(
    ...Array.from({ length: WORKFLOWS }, (_, i) => `release-pipeline-${i}`),
  );
  await writeFile(path.join(dir, 'bundle.json'), JSON.stringify(bundle));
  await run(['apply', '--bundle', 'bundle.json'], io);
  const cred = JSON.parse(await readFile(path.join(dir, 'bench.json'), 'utf8')) as {
    key_id: string;
    private_key_pem: string;
  };

  const evaluatorEnv = {
    ...process.env,
    STEPGATE_EVALUATOR_KEY_FILE: path.join(dir, 'evaluator.pem'),
    STEPGATE_EVALUATOR_GROUP: `${id}.evaluator`,
    STEPGATE_INSTANCE_ID: `${id}-evaluator`,
  };
  let evaluator = await startEvaluatorProcess(evaluatorEnv);
  const client = new GateClient({
    brokers: endpoints.kafkaBrokers,
    keyId: cred.key_id,
    privateKeyPem: cred.private_key_pem,
    evaluatorPublicKeyPem: await readFile(path.join(dir, 'evaluator.pub.pem'), 'utf8'),
    topicPrefix: prefix,
  });
  await client.connect();
  const step = (i: number, workflows = 1) => ({
    workflow_id: workflows === 1 ? 'release-pipeline' : `release-pipeline-${i % workflows}`,
    step_id: `s-${i}-${randomUUID().slice(0, 6)}`,
    step_type: 'llm_call' as const,
    model: 'claude-sonnet',
    provider: 'anthropic',
  });

  try {
    for (let i = 0; i < 200; i++) await client.gate(step(i)); // warm-up: JIT, connections, bundle cache
    const roundTrips: PipelineBench['roundTrips'] = [];
    // One workflow (every request on one partition: the worst case), then the load spread over 64.
    for (const [rate, workflows] of [...rates.map((r) => [r, 1] as const), [rates.at(-1)!, WORKFLOWS] as const]) {
      const latencies: number[] = [];
      const pending: Promise<void>[] = [];
      const start = performance.now();
      for (let i = 0; i < perRate; i++) {
        const wait = start + (i * 1000) / rate - performance.now();
        if (wait > 1) await new Promise((r) => setTimeout(r, wait));
        const t0 = performance.now();
        pending.push(
          client
            .gate(step(i, workflows), { timeoutMs: 120_000 })
            .then(() => void latencies.push(performance.now() - t0)),
        );
      }
      await Promise.all(pending);
      roundTrips.push({ rate, workflows, ...summarize(latencies) });
    }

    // Sustained: stop the evaluator, pre-load a backlog of signed requests, then time one evaluator draining it.
    evaluator.kill('SIGTERM');
    await new Promise((r) => evaluator.once('exit', r));
    const topics = topicsFor(prefix);
    const producer = kafka.producer();
    await producer.connect();
    const key = privateKeyFromPem(cred.private_key_pem);
    for (let sent = 0; sent < backlog; sent += 1000) {
      const messages = Array.from({ length: Math.min(1000, backlog - sent) }, (_, i) => {
        const value = Buffer.from(
          JSON.stringify({
            ...step(sent + i),
            workflow_id: `release-pipeline`,
            request_id: randomUUID(),
            requested_at: new Date().toISOString(),
          }),
        );
        return {
          key: `wf-${(sent + i) % 64}`,
          value,
          headers: { [HEADER_KEY_ID]: cred.key_id, [HEADER_SIGNATURE]: signBytes(key, value) },
        };
      });
      await producer.send({ topic: topics['gate.requests'], messages });
    }
    await producer.disconnect();
    const counted = countDecisions(kafka, topics['gate.decisions'], backlog);
    const t0 = performance.now();
    evaluator = await startEvaluatorProcess(evaluatorEnv);
    const ready = performance.now(); // it has joined the group: fetching starts now
    const last = await counted;
    return {
      roundTrips,
      sustained: { gates: backlog, seconds: (last - t0) / 1000, perSecond: backlog / ((last - ready) / 1000) },
    };
  } finally {
    const exited = new Promise((r) => evaluator.once('exit', r));
    evaluator.kill('SIGTERM');
    await exited; // before its topics go
    await client.disconnect();
    await admin.deleteTopics({ topics: Object.values(topicsFor(prefix)) }).catch(() => undefined);
    await admin.disconnect();
    await db.query(`drop schema if exists ${id} cascade`);
    await db.end();
  }
}

function startEvaluatorProcess(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const profile = process.env.STEPGATE_BENCH_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.STEPGATE_BENCH_PROFILE}`]
    : [];
  const child = spawn(
    process.execPath,
    [
      ...profile,
      '--max-semi-space-size=32',
      '--conditions=source',
      '--import',
      'tsx',
      'services/evaluator/src/main.ts',
    ],
    { env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('evaluator running') && resolve(child));
    child.once('exit', (code) => reject(new Error(`evaluator exited with ${String(code)}`)));
  });
}

/** Resolves, with the time, when `count` new decisions have been published (read from the end of the topic). */
async function countDecisions(kafka: Kafka, topic: string, count: number): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `count-${randomUUID()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let seen = 0;
  const last = await new Promise<number>((resolve) => {
    void consumer.run({
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= count) resolve(performance.now());
      },
    });
    for (const p of ends) consumer.seek({ topic, partition: p.partition, offset: p.high });
  });
  await consumer.disconnect();
  return last;
}
