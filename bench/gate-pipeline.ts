/**
 * The gate pipeline on the real broker and Postgres: round-trip latency through one evaluator
 * process at fixed rates, and the sustained rate at which one evaluator drains a backlog.
 */
import { GateClient } from '@stepgate/client';
import type { Endpoints } from '@stepgate/infra';
import { summarize, type LatencySummary } from './stats.js';
import { freePort, scrapeMetrics, stageBreakdown, type StageBreakdown } from './stage-breakdown.js';
import {
  benchStep,
  watchNewMessages,
  openPipelineFixture,
  preloadBacklog,
  startEvaluatorProcess,
  stopProcess,
  WORKFLOWS,
  type EvaluatorSource,
  type PipelineFixture,
} from './pipeline-fixture.js';

export interface PipelineBench {
  roundTrips: Array<{ rate: number; workflows: number; stages: StageBreakdown } & LatencySummary>;
  /** `seconds` from the evaluator's spawn (startup and group join included) to the last decision; `perSecond` from its joining the group to the last decision. */
  sustained: { gates: number; seconds: number; perSecond: number };
}

export async function benchGatePipeline(
  endpoints: Endpoints,
  rates: number[],
  perRate: number,
  backlog: number,
): Promise<PipelineBench> {
  const f = await openPipelineFixture(endpoints);
  const metricsPort = await freePort();
  let evaluator = await startEvaluatorProcess({ ...f.evaluatorEnv('evaluator'), METRICS_PORT: String(metricsPort) });
  const client = await benchClient(endpoints, f);

  try {
    await warmUp(client);
    const roundTrips: PipelineBench['roundTrips'] = [];
    // One workflow (every request on one partition: the worst case), then the load spread over 64.
    for (const [rate, workflows] of [...rates.map((r) => [r, 1] as const), [rates.at(-1)!, WORKFLOWS] as const]) {
      const before = await scrapeMetrics(metricsPort);
      const latency = await roundTripsAt(client, { rate, workflows, count: perRate });
      const stages = stageBreakdown(before, await scrapeMetrics(metricsPort), latency.mean);
      roundTrips.push({ ...latency, stages });
    }

    // Sustained: stop the evaluator, pre-load a backlog of signed requests, then time one evaluator draining it.
    await stopProcess(evaluator);
    await preloadBacklog(f, backlog);
    const counted = await watchNewMessages(f.kafka, f.topics['gate.decisions'], backlog);
    const t0 = performance.now();
    evaluator = await startEvaluatorProcess(f.evaluatorEnv('evaluator'));
    const ready = performance.now(); // it has joined the group: fetching starts now
    const { last } = await counted.done;
    return {
      roundTrips,
      sustained: { gates: backlog, seconds: (last - t0) / 1000, perSecond: backlog / ((last - ready) / 1000) },
    };
  } finally {
    await stopProcess(evaluator); // before its topics go
    await client.disconnect();
    await f.close();
  }
}

function benchClient(endpoints: Endpoints, f: PipelineFixture): Promise<GateClient> {
  const client = new GateClient({
    brokers: endpoints.kafkaBrokers,
    keyId: f.credential.key_id,
    privateKeyPem: f.credential.private_key_pem,
    evaluatorPublicKeyPem: f.evaluatorPublicKeyPem,
    topicPrefix: f.prefix,
  });
  return client.connect().then(() => client);
}

/** JIT, connections, the bundle and key caches. */
async function warmUp(client: GateClient): Promise<void> {
  for (let i = 0; i < 200; i++) await client.gate(benchStep(i));
}

/** `count` gates sent at `rate` per second over `workflows` workflows, each timed to its decision. */
async function roundTripsAt(
  client: GateClient,
  load: { rate: number; workflows: number; count: number },
): Promise<{ rate: number; workflows: number } & LatencySummary> {
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const start = performance.now();
  for (let i = 0; i < load.count; i++) {
    const wait = start + (i * 1000) / load.rate - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    pending.push(
      client
        .gate(benchStep(i, load.workflows), { timeoutMs: 120_000 })
        .then(() => void latencies.push(performance.now() - t0)),
    );
  }
  await Promise.all(pending);
  return { rate: load.rate, workflows: load.workflows, ...summarize(latencies) };
}

/**
 * The round trip through one evaluator of `baseline` (another checkout, or other Node flags) against
 * one of this checkout, A B B A at the same load, so that a drift in the host's load falls on both alike.
 */
export async function benchGateLatencyAb(
  endpoints: Endpoints,
  options: { baseline: EvaluatorSource; current: EvaluatorSource; rate: number; workflows: number; count: number },
): Promise<{ baseline: LatencySummary[]; current: LatencySummary[] }> {
  const f = await openPipelineFixture(endpoints);
  const client = await benchClient(endpoints, f);
  try {
    const runs = { baseline: [] as LatencySummary[], current: [] as LatencySummary[] };
    // The first run of a fresh fixture was always the slowest (its tables and the broker's segments
    // are cold): a discarded run at the same load keeps that off the baseline's figures.
    const order = ['warm-up', 'baseline', 'current', 'current', 'baseline'] as const;
    for (const [i, which] of order.entries()) {
      const evaluator = await startEvaluatorProcess(
        f.evaluatorEnv(`latency-${i}`),
        which === 'current' ? options.current : options.baseline,
      );
      try {
        await warmUp(client);
        const got = await roundTripsAt(
          client,
          which === 'warm-up' ? { ...options, count: options.count / 3 } : options,
        );
        if (which !== 'warm-up') runs[which].push(got);
      } finally {
        await stopProcess(evaluator);
      }
    }
    return runs;
  } finally {
    await client.disconnect();
    await f.close();
  }
}
