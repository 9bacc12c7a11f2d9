/**
 * Evaluator CPU per gate against its floor, measured in one run: evaluator processes drain a backlog of
 * signed requests, their CPU read from /proc from the moment they joined the group to the last decision
 * (start-up and a warm-up drain excluded). The floor is what no evaluator can avoid per gate: an Ed25519 verify of the
 * request and a sign of the decision (same sizes, the library the evaluator uses) plus the CPU per
 * message of a bare kafkajs consume→produce relay process draining the same messages.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { ed25519 } from '@stepgate/contracts/node';
import type { Endpoints } from '@stepgate/infra';
import {
  mainThreadCpuSeconds,
  pidCpuSeconds,
  threadCpuSeconds,
  processCpuSeconds,
  SERVICES,
  type ServiceName,
} from './cpu.js';
import {
  openPipelineFixture,
  watchNewMessages,
  signedRequests,
  startEvaluatorProcess,
  stopProcess,
  type EvaluatorSource,
  type PipelineFixture,
} from './pipeline-fixture.js';

/** Messages each process set drains before it is measured: JIT, connections, bundle and key caches. */
const WARM_UP = 3_000;

export interface DrainFigures {
  processes: number;
  gates: number;
  perSecond: number;
  /** CPU µs per message of all the draining processes together, start-up excluded. */
  cpuMicrosPerMessage: number;
  /** Of which their main threads (event loops): what bounds one process's rate when it has cores to spare. */
  mainThreadMicrosPerMessage: number;
  /** CPU µs per message of each other thread of the processes, largest first (signature threads, V8's GC helpers, libuv's pool). */
  otherThreadsMicrosPerMessage: number[];
  /** The draining processes and when they drained (monotonic µs, the clock of V8's CPU profiles). */
  measured: { pids: number[]; fromMicros: number; toMicros: number };
  /** CPU µs per message of the local Postgres and Kafka broker over the same interval (undefined: not on this host). */
  services: Record<ServiceName, number | undefined>;
}

export interface EvaluatorCpuBench {
  evaluators: DrainFigures[];
  relay: DrainFigures;
  /** The same relay writing each batch to Postgres in one durable transaction before it republishes each message twice. */
  durableRelay: DrainFigures;
  /** µs of one verify of a request-sized message and one sign of a decision-sized message. */
  ed25519: { micros: number; backend: string; requestBytes: number; decisionBytes: number };
  floorMicros: number;
}

export async function benchEvaluatorCpu(
  endpoints: Endpoints,
  options: { backlog: number; evaluatorCounts: number[] },
): Promise<EvaluatorCpuBench> {
  const f = await openPipelineFixture(endpoints);
  try {
    const evaluators: DrainFigures[] = [];
    let decisionBytes = 0;
    for (const count of options.evaluatorCounts) {
      const drained = await drainWithEvaluators(f, count, options.backlog);
      evaluators.push(drained.figures);
      decisionBytes = drained.decisionBytes;
    }
    const requestBytes = signedRequests(f, 1)[0]!.value.length;
    const relay = await drainWithRelay(f, options.backlog);
    const durableRelay = await drainWithRelay(f, options.backlog, { durable: true });
    const sig = ed25519Micros(requestBytes, decisionBytes);
    return {
      evaluators,
      relay,
      durableRelay,
      ed25519: { micros: sig, backend: ed25519.name, requestBytes, decisionBytes },
      floorMicros: sig + relay.cpuMicrosPerMessage,
    };
  } finally {
    await f.close();
  }
}

/**
 * One evaluator of `baseline` (another checkout, or other Node flags) against one of this checkout,
 * each draining the same backlog in the order A B B A, so that a drift in the host's load falls on
 * both alike.
 */
export async function benchEvaluatorAb(
  endpoints: Endpoints,
  options: { backlog: number; baseline: EvaluatorSource; current: EvaluatorSource },
): Promise<{ baseline: DrainFigures[]; current: DrainFigures[] }> {
  const f = await openPipelineFixture(endpoints);
  try {
    const runs = { baseline: [] as DrainFigures[], current: [] as DrainFigures[] };
    for (const [i, which] of (['baseline', 'current', 'current', 'baseline'] as const).entries())
      runs[which].push((await drainWithEvaluators(f, 1, options.backlog, { ...options[which], run: i })).figures);
    return runs;
  } finally {
    await f.close();
  }
}

async function drainWithEvaluators(
  f: PipelineFixture,
  count: number,
  backlog: number,
  from: EvaluatorSource & { run?: number } = {},
): Promise<{ figures: DrainFigures; decisionBytes: number }> {
  const processes = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startEvaluatorProcess(f.evaluatorEnv(`cpu-${count}-${i}-${from.run ?? 0}`), from),
    ),
  );
  try {
    await groupStable(f, `${f.id}.evaluator`, count);
    const run = { processes, from: f.topics['gate.requests'], to: f.topics['gate.decisions'] };
    await measureDrain(f, { ...run, backlog: WARM_UP });
    return await measureDrain(f, { ...run, backlog });
  } finally {
    await Promise.all(processes.map(stopProcess));
  }
}

async function drainWithRelay(
  f: PipelineFixture,
  backlog: number,
  options: { durable?: boolean } = {},
): Promise<DrainFigures> {
  const name = options.durable ? 'durable-relay' : 'relay';
  const [from, to, alsoTo] = ['in', 'out', 'audit'].map((t) => `${f.prefix}${name}.${t}`) as [string, string, string];
  const admin = f.kafka.admin();
  await admin.connect();
  const partitions = (await admin.fetchTopicMetadata({ topics: [f.topics['gate.requests']] })).topics[0]!.partitions
    .length;
  const topics = options.durable ? [from, to, alsoTo] : [from, to];
  await admin.createTopics({ topics: topics.map((topic) => ({ topic, numPartitions: partitions })) });
  const relay = await startRelayProcess({
    RELAY_BROKERS: process.env.KAFKA_BROKERS ?? '',
    RELAY_GROUP: `${f.id}.${name}`,
    RELAY_FROM: from,
    RELAY_TO: to,
    ...(options.durable ? { RELAY_ALSO_TO: alsoTo, RELAY_TABLE: `${f.id}.durable_relay` } : {}),
  });
  try {
    await groupStable(f, `${f.id}.${name}`, 1);
    await measureDrain(f, { processes: [relay], from, to, backlog: WARM_UP });
    return (await measureDrain(f, { processes: [relay], from, to, backlog })).figures;
  } finally {
    await stopProcess(relay);
    await admin.deleteTopics({ topics }).catch(() => undefined);
    await admin.disconnect();
  }
}

/** Waits until the group has `members` members and no rebalance under way. */
async function groupStable(f: PipelineFixture, groupId: string, members: number): Promise<void> {
  const admin = f.kafka.admin();
  await admin.connect();
  try {
    for (let i = 0; i < 600; i++) {
      const [group] = (await admin.describeGroups([groupId])).groups;
      if (group?.state === 'Stable' && group.members.length === members) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`bench: group ${groupId} did not settle with ${members} members`);
  } finally {
    await admin.disconnect();
  }
}

/**
 * Sends a backlog of signed requests (signed beforehand) to processes that have joined their group and
 * idle, and reads their CPU from before the first send to the last message out: start-up excluded.
 */
async function measureDrain(
  f: PipelineFixture,
  run: { processes: ChildProcess[]; from: string; to: string; backlog: number },
): Promise<{ figures: DrainFigures; decisionBytes: number }> {
  const batches: ReturnType<typeof signedRequests>[] = [];
  for (let sent = 0; sent < run.backlog; sent += 1000)
    batches.push(signedRequests(f, Math.min(1000, run.backlog - sent), sent));
  const producer = f.kafka.producer();
  await producer.connect();
  const counted = await watchNewMessages(f.kafka, run.to, run.backlog);
  const cpu = () => run.processes.reduce((sum, p) => sum + pidCpuSeconds(p.pid!), 0);
  const mainThreads = () => run.processes.reduce((sum, p) => sum + mainThreadCpuSeconds(p.pid!), 0);
  const servicesBefore = serviceCpuSeconds();
  const cpuBefore = cpu();
  const mainBefore = mainThreads();
  const threadsBefore = run.processes.map((p) => threadCpuSeconds(p.pid!));
  const fromMicros = monotonicMicros();
  for (const messages of batches) await producer.send({ topic: run.from, messages });
  const { first, last, meanBytes } = await counted.done;
  const used = cpu() - cpuBefore;
  const usedByMain = mainThreads() - mainBefore;
  const otherThreads = run.processes.flatMap((p, i) =>
    [...threadCpuSeconds(p.pid!)]
      .filter(([tid]) => tid !== p.pid)
      .map(([tid, seconds]) => ((seconds - (threadsBefore[i]!.get(tid) ?? 0)) * 1e6) / run.backlog),
  );
  const toMicros = monotonicMicros();
  const servicesAfter = serviceCpuSeconds();
  await producer.disconnect();
  return {
    figures: {
      processes: run.processes.length,
      gates: run.backlog,
      perSecond: run.backlog / ((last - first) / 1000),
      cpuMicrosPerMessage: (used * 1e6) / run.backlog,
      mainThreadMicrosPerMessage: (usedByMain * 1e6) / run.backlog,
      otherThreadsMicrosPerMessage: otherThreads.filter((micros) => micros > 0).sort((a, b) => b - a),
      measured: { pids: run.processes.map((p) => p.pid!), fromMicros, toMicros },
      services: Object.fromEntries(
        SERVICE_NAMES.map((n) => {
          const [before, after] = [servicesBefore[n], servicesAfter[n]];
          return [n, before === undefined || after === undefined ? undefined : ((after - before) * 1e6) / run.backlog];
        }),
      ) as Record<ServiceName, number | undefined>,
    },
    decisionBytes: meanBytes,
  };
}

const SERVICE_NAMES = Object.keys(SERVICES) as ServiceName[];

function serviceCpuSeconds(): Record<ServiceName, number | undefined> {
  return Object.fromEntries(SERVICE_NAMES.map((n) => [n, processCpuSeconds(SERVICES[n])])) as Record<
    ServiceName,
    number | undefined
  >;
}

function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

function startRelayProcess(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'bench/relay-process.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('relay running') && resolve(child));
    child.once('exit', (code) => reject(new Error(`relay exited with ${String(code)}`)));
  });
}

/** CPU µs of one verify (request-sized message) plus one sign (decision-sized message). */
function ed25519Micros(requestBytes: number, decisionBytes: number): number {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const request = randomBytes(requestBytes);
  const decision = randomBytes(Math.max(1, Math.round(decisionBytes)));
  const signature = ed25519.sign(privateKey, request);
  const rounds = 5_000;
  for (let i = 0; i < 500; i++) ed25519.verify(publicKey, request, signature); // warm-up
  const before = process.cpuUsage();
  for (let i = 0; i < rounds; i++) {
    ed25519.verify(publicKey, request, signature);
    ed25519.sign(privateKey, decision);
  }
  const used = process.cpuUsage(before);
  return (used.user + used.system) / rounds;
}
