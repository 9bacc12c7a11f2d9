/**
 * Audit ingest: a backlog of audit events on Kafka drained by the real audit consumer into
 * `audit_log` (dedup check, hash chain, one COPY per Kafka batch, offsets after commit), next to
 * a bare COPY of the same rows into a table with the same columns and indexes, A B B A in the same run.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import type { Kafka } from 'kafkajs';
import { from as copyFrom } from 'pg-copy-streams';
import pino from 'pino';
import { topicsFor, type AuditEvent } from '@stepgate/contracts';
import { migrate, type Endpoints } from '@stepgate/infra';
import { TopicAdmin } from '@stepgate/messaging';
import { AuditConsumer, COPY_AUDIT_LOG, copyLines } from '@stepgate/audit';
import { chain } from '@stepgate/audit-log';
import { profiled } from './profile.js';
import { cpuDuring, mainThreadCpuSeconds, threadCpuSeconds } from './cpu.js';
import { benchDb, benchKafka } from './transport.js';

export interface AuditBench {
  events: number;
  /** Two ingests: their mean time, and each one's rate. */
  ingest: { seconds: number; perSecond: number; runs: number[] };
  copy: { seconds: number; perSecond: number; runs: number[] };
  /** CPU µs per event, means of the two ingests: the consumer's process, Postgres's and the broker's; Postgres's per row of the bare COPY (undefined where /proc cannot see a service). */
  cpu: {
    consumer: number;
    consumerMainThread: number;
    /** The consumer's other threads (the preparing thread, GC helpers, libuv), of the first ingest, largest first. */
    otherThreads: number[];
    postgres?: number;
    broker?: number;
    copyPostgres?: number;
  };
}

/**
 * The events chained and serialized as the consumer writes them, in COPY-sized chunks. Bytes, not
 * strings: kept through the ingests for the second bare COPY, they are off the V8 heap, which the
 * consumer under test shares (every major collection during an ingest would otherwise mark them).
 */
function copyChunks(events: AuditEvent[]): Buffer[] {
  const lines = copyLines(chain(events, new Map()));
  const chunks: Buffer[] = [];
  for (let i = 0; i < lines.length; i += 500) chunks.push(Buffer.from(lines.slice(i, i + 500).join('')));
  return chunks;
}

/** The same rows COPYed into a fresh table with the same columns and indexes (serialized beforehand: the database's part only). */
async function bareCopy(
  db: pg.Client,
  chunks: Buffer[],
  table: string,
): Promise<{ seconds: number; postgresCpu?: number }> {
  await db.query(`create table ${table} (like audit_log including defaults including indexes)`);
  const started = performance.now();
  const { services } = await cpuDuring(() =>
    pipeline(Readable.from(chunks), db.query(copyFrom(COPY_AUDIT_LOG.replace('copy audit_log', `copy ${table}`)))),
  );
  return { seconds: (performance.now() - started) / 1000, postgresCpu: services.postgres };
}

function syntheticEvents(n: number, tenants: number): AuditEvent[] {
  const start = Date.now() - n;
  return Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    timestamp: new Date(start + i).toISOString(),
    tenant_id: `tenant-${i % tenants}`,
    agent_id: `agent-${i % 50}`,
    session_id: `session-${i % 500}`,
    user_id: `user-${i % 200}`,
    workflow_id: `wf-${i % 5000}`,
    execution_id: null,
    step_id: `step-${i}`,
    action: 'GateEvaluated',
    outcome: i % 10 === 0 ? 'block' : 'allow',
    inputs_summary: `{ step_input: { query: "select * from orders where id = ${i}" }, tool_input: { api_key: "[REDACTED]" } }`,
    elapsed_ms: 1.5,
    decision_id: randomUUID(),
    decision: i % 10 === 0 ? 'block' : 'allow',
    policies_matched: i % 10 === 0 ? ['block-destructive-sql'] : [],
    error_code: null,
    detail: {
      request_id: randomUUID(),
      decision_source: 'fresh',
      principal: 'orchestrator',
      execution_mode: 'interactive',
    },
  }));
}

/** Fills the topic with `n` synthetic events, unreachable once it returns: none stays on the heap the consumer under test shares. */
async function produceEvents(kafka: Kafka, topic: string, n: number): Promise<void> {
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  try {
    const events = syntheticEvents(n, 20);
    for (let i = 0; i < n; i += 2_000)
      await producer.send({
        topic,
        messages: events.slice(i, i + 2_000).map((e) => ({ key: e.tenant_id, value: JSON.stringify(e) })),
      });
  } finally {
    await producer.disconnect();
  }
}

interface IngestRun {
  seconds: number;
  /** CPU µs per event of the consumer's process (all threads), its main thread, Postgres, the broker. */
  consumer: number;
  consumerMainThread: number;
  otherThreads: number[];
  postgres?: number;
  broker?: number;
}

/**
 * One ingest of `n` synthetic events by the real audit consumer into a schema and topics of its own (made and
 * filled before the clock starts, dropped after): the same starting point for every run.
 */
async function ingest(endpoints: Endpoints, n: number, label: string): Promise<IngestRun> {
  const id = `bench_${randomBytes(4).toString('hex')}`;
  const prefix = `bench.${id}.`;
  const db = benchDb(endpoints, { options: `-c search_path=${id}` });
  await db.connect();
  await migrate(db, { schema: id });
  const kafka = benchKafka(id, endpoints);
  const admin = kafka.admin();
  await admin.connect();
  await new TopicAdmin(admin).ensureTopics({ prefix });
  const topics = topicsFor(prefix);
  try {
    await produceEvents(kafka, topics.audit, n);

    const consumer = new AuditConsumer(
      {
        kafkaBrokers: endpoints.kafkaBrokers,
        databaseUrl: endpoints.databaseUrl,
        databaseSchema: id,
        topicPrefix: prefix,
        groupId: `${id}.audit`,
        alertsGroupId: `${id}.alerts`,
        instanceId: `${id}-audit`,
        sessionTimeoutMs: 10_000,
        partitionsConcurrently: 6,
        metricsPort: undefined,
      },
      undefined,
      pino({ level: 'warn' }),
    );
    const inserted = async () =>
      (await consumer.registry.getSingleMetric('stepgate_audit_events_total')!.get()).values.find(
        (v) => v.labels.result === 'inserted',
      )?.value ?? 0;
    await consumer.start(); // joining the group is not ingest: timed (and its CPU counted) from here
    const mainBefore = mainThreadCpuSeconds(process.pid);
    const threadsBefore = threadCpuSeconds(process.pid);
    const run = await profiled(label, () =>
      cpuDuring(async () => {
        const started = performance.now();
        while ((await inserted()) < n) await new Promise((r) => setTimeout(r, 50));
        return (performance.now() - started) / 1000;
      }),
    );
    const mainThread = mainThreadCpuSeconds(process.pid) - mainBefore;
    const otherThreads = [...threadCpuSeconds(process.pid)]
      .filter(([tid]) => tid !== process.pid)
      .map(([tid, seconds]) => perEvent(seconds - (threadsBefore.get(tid) ?? 0), n)!)
      .filter((micros) => micros >= 0.5)
      .sort((a, b) => b - a);
    await consumer.stop();
    return {
      seconds: run.result,
      consumer: perEvent(run.self, n)!,
      consumerMainThread: perEvent(mainThread, n)!,
      otherThreads,
      postgres: perEvent(run.services.postgres, n),
      broker: perEvent(run.services.broker, n),
    };
  } finally {
    await admin.deleteTopics({ topics: Object.values(topics) }).catch(() => undefined);
    await admin.disconnect();
    await db.query(`drop schema if exists ${id} cascade`);
    await db.end();
  }
}

function perEvent(seconds: number | undefined, n: number): number | undefined {
  return seconds === undefined ? undefined : (seconds * 1e6) / n;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * A B B A: a bare COPY, two ingests (each of its own copy of the events, into a fresh schema), a bare
 * COPY again. Postgres's speed drifts within a minute on a shared host (a checkpoint after the
 * ingests' writes, other tenants): one ingest against the mean of copies around it swung the ratio
 * from 0.63× to 0.97× between runs of the same code.
 */
export async function benchAuditIngest(endpoints: Endpoints, n: number): Promise<AuditBench> {
  const id = `bench_${randomBytes(4).toString('hex')}`;
  const db = benchDb(endpoints, { options: `-c search_path=${id}` });
  await db.connect();
  await migrate(db, { schema: id });
  try {
    const chunks = copyChunks(syntheticEvents(n, 20));
    const before = await bareCopy(db, chunks, 'audit_copy_before');
    const ingests = [await ingest(endpoints, n, 'audit-ingest-1'), await ingest(endpoints, n, 'audit-ingest-2')];
    const after = await bareCopy(db, chunks, 'audit_copy_after');
    const copySeconds = (before.seconds + after.seconds) / 2;
    const ingestSeconds = mean(ingests.map((r) => r.seconds));
    const meanOf = (of: (r: IngestRun) => number | undefined) => {
      const xs = ingests.map(of);
      return xs.some((x) => x === undefined) ? undefined : mean(xs as number[]);
    };
    const copyCpu =
      before.postgresCpu === undefined || after.postgresCpu === undefined
        ? undefined
        : (before.postgresCpu + after.postgresCpu) / 2;
    return {
      events: n,
      ingest: { seconds: ingestSeconds, perSecond: n / ingestSeconds, runs: ingests.map((r) => n / r.seconds) },
      copy: { seconds: copySeconds, perSecond: n / copySeconds, runs: [n / before.seconds, n / after.seconds] },
      cpu: {
        consumer: meanOf((r) => r.consumer)!,
        consumerMainThread: meanOf((r) => r.consumerMainThread)!,
        otherThreads: ingests[0]!.otherThreads,
        postgres: meanOf((r) => r.postgres),
        broker: meanOf((r) => r.broker),
        copyPostgres: perEvent(copyCpu, n),
      },
    };
  } finally {
    await db.query(`drop schema if exists ${id} cascade`);
    await db.end();
  }
}
