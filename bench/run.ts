// npm run bench [-- name...]: measured speed on the real services, printed as figures and ratios.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
import { checkService, endpointsFromEnv, SERVICE_NAMES } from '@stepgate/infra';
import { kafkaRoundTrip } from './kafka-roundtrip.js';
import { benchEngine, printEngine } from './policy-engine.js';
import { benchGateLatencyAb, benchGatePipeline } from './gate-pipeline.js';
import { envFrom, nodeFlagsFrom, WORKFLOWS, type EvaluatorSource } from './pipeline-fixture.js';
import { benchAuditIngest } from './audit-ingest.js';
import { benchReplay } from './replay.js';
import { benchEvaluatorAb, benchEvaluatorCpu } from './evaluator-cpu.js';
import { selfTimeByComponent, topSelfTime } from './profile-summary.js';
import { fmt, percentile } from './stats.js';

const endpoints = endpointsFromEnv();

/** Benchmarks on the real services start the native stack when it is not answering. */
async function ensureServices(): Promise<void> {
  for (const service of SERVICE_NAMES) {
    try {
      await checkService(service, endpoints);
    } catch {
      const up = spawnSync('bash', ['infra/local/stack.sh', 'up'], { stdio: 'inherit' });
      if (up.status !== 0)
        throw new Error('bench: the services are not reachable and infra/local could not start them');
      return;
    }
  }
}

const benches: Record<string, () => Promise<void>> = {
  'policy-engine': async () => {
    for (const n of [10, 100, 1_000]) printEngine(await benchEngine(n));
  },
  'kafka-roundtrip': async () => {
    await ensureServices();
    for (const echo of [false, true, 'durable'] as const)
      for (const ratePerSecond of [100, 500, 1_000]) {
        const r = await kafkaRoundTrip(endpoints, { messages: 3_000, ratePerSecond, echo });
        console.log(
          `kafka-roundtrip  bare kafkajs ${echo === 'durable' ? 'request → echo consumer committing each batch to Postgres → reply' : echo ? 'request → echo consumer → reply' : 'produce → consume'}, one send per message, ${ratePerSecond} msg/s, n=${r.count}: ` +
            `p50 ${fmt(r.p50)} ms  p99 ${fmt(r.p99)} ms  max ${fmt(r.max)} ms`,
        );
      }
  },
};

const RATES = [100, 500, 1_000];
benches['gate-pipeline'] = async () => {
  await ensureServices();
  const hop = new Map<number, Awaited<ReturnType<typeof kafkaRoundTrip>>>();
  const echo = new Map<number, Awaited<ReturnType<typeof kafkaRoundTrip>>>();
  const durable = new Map<number, Awaited<ReturnType<typeof kafkaRoundTrip>>>();
  for (const rate of RATES) {
    hop.set(rate, await kafkaRoundTrip(endpoints, { messages: 3_000, ratePerSecond: rate }));
    echo.set(rate, await kafkaRoundTrip(endpoints, { messages: 3_000, ratePerSecond: rate, echo: true }));
    durable.set(rate, await kafkaRoundTrip(endpoints, { messages: 3_000, ratePerSecond: rate, echo: 'durable' }));
  }
  const r = await benchGatePipeline(endpoints, RATES, 3_000, 20_000);
  for (const rt of r.roundTrips) {
    const b = hop.get(rt.rate)!;
    const e = echo.get(rt.rate)!;
    console.log(
      `gate-pipeline  round trip at ${rt.rate} gates/s over ${rt.workflows === 1 ? '1 workflow' : `${rt.workflows} workflows`}, n=${rt.count}: p50 ${fmt(rt.p50)} ms  p99 ${fmt(rt.p99)} ms` +
        ` | bare kafkajs one hop p50 ${fmt(b.p50)} / p99 ${fmt(b.p99)} ms: ratio ${fmt(rt.p50 / b.p50, 1)}× / ${fmt(rt.p99 / b.p99, 1)}×` +
        ` | bare request→reply p50 ${fmt(e.p50)} / p99 ${fmt(e.p99)} ms: ratio ${fmt(rt.p50 / e.p50, 1)}× / ${fmt(rt.p99 / e.p99, 1)}×`,
    );
    const d = durable.get(rt.rate)!;
    console.log(
      `gate-pipeline    durable request→reply (the echo commits each batch to Postgres before replying, no other work) p50 ${fmt(d.p50)} / p99 ${fmt(d.p99)} ms:` +
        ` itself ${fmt(d.p50 / e.p50, 1)}× / ${fmt(d.p99 / e.p99, 1)}× the bare request→reply; the gate is ${fmt(rt.p50 / d.p50, 1)}× / ${fmt(rt.p99 / d.p99, 1)}× it`,
    );
    const s = rt.stages;
    console.log(
      `gate-pipeline    where it goes (means): round trip ${fmt(rt.mean)} ms = request → its batch ${fmt(s.requestToBatch)} + in the evaluator ${fmt(s.inEvaluator)} + decision → client ${fmt(s.decisionToClient)}` +
        ` | per batch (${fmt(s.gatesPerBatch, 1)} gates): intake ${fmt(s.intake)}, decide ${fmt(s.decide)}, publish ${fmt(s.publish)} ms` +
        ` | bare request→reply mean ${fmt(e.mean)} ms`,
    );
  }
  console.log(
    `gate-pipeline  one evaluator draining a backlog of ${r.sustained.gates} gates: ${fmt(r.sustained.seconds, 1)} s from its spawn, ${fmt(r.sustained.perSecond, 0)} gates/s from its joining the group to its last decision (targets: ratio ≤1.5×, p50 <3 ms, p99 <15 ms at 1,000 gates/s; ≥5,000 gates/s)`,
  );
};

benches['evaluator-cpu'] = async () => {
  await ensureServices();
  const r = await benchEvaluatorCpu(endpoints, { backlog: 20_000, evaluatorCounts: [1, 2] });
  const [one, two] = r.evaluators;
  const sig = r.ed25519;
  console.log(
    `evaluator-cpu  one evaluator draining ${one!.gates} gates: ${fmt(one!.cpuMicrosPerMessage, 0)} µs CPU per gate (start-up excluded; its event loop ${fmt(one!.mainThreadMicrosPerMessage, 0)} µs), ${fmt(one!.perSecond, 0)} gates/s` +
      ` | floor ${fmt(r.floorMicros, 0)} µs = Ed25519 verify ${sig.requestBytes} B + sign ${fmt(sig.decisionBytes, 0)} B (${sig.backend}) ${fmt(sig.micros, 0)} µs + bare kafkajs relay ${fmt(r.relay.cpuMicrosPerMessage, 0)} µs/message (${fmt(r.relay.perSecond, 0)} msg/s)` +
      ` | ratio ${fmt(one!.cpuMicrosPerMessage / r.floorMicros, 2)}× (target ≤1.3×)`,
  );
  const durable = r.durableRelay;
  const durableFloor = sig.micros + durable.cpuMicrosPerMessage;
  console.log(
    `evaluator-cpu  what publishing only after a durable commit costs with no stepgate code: a relay writing each batch in one durable Postgres transaction (a row per message), then republishing each message twice (decision, audit), ${fmt(durable.cpuMicrosPerMessage, 0)} µs/message (${fmt(durable.perSecond, 0)} msg/s)` +
      ` | Ed25519 + that relay ${fmt(durableFloor, 0)} µs: the evaluator is ${fmt(one!.cpuMicrosPerMessage / durableFloor, 2)}× it, and that floor alone is ${fmt(durableFloor / r.floorMicros, 2)}× the issue's floor`,
  );
  const others = one!.otherThreadsMicrosPerMessage;
  console.log(
    `evaluator-cpu  its threads besides the event loop, µs per gate, largest first (the Ed25519 threads, V8's GC helpers, libuv's pool): ` +
      `${others
        .filter((micros) => micros >= 1)
        .map((micros) => fmt(micros, 0))
        .join(', ')} (sum ${fmt(
        others.reduce((sum, micros) => sum + micros, 0),
        0,
      )})`,
  );
  const servicesLine = (d: { services: Record<string, number | undefined> }) =>
    Object.entries(d.services)
      .map(([name, micros]) => `${name} ${micros === undefined ? 'n/a' : `${fmt(micros, 0)} µs`}`)
      .join(', ');
  console.log(
    `evaluator-cpu  the local services' CPU per message over the same drains (other load on the host counts too): evaluator ${servicesLine(one!)} | bare relay ${servicesLine(r.relay)} | durable relay ${servicesLine(r.durableRelay)}`,
  );
  console.log(
    `evaluator-cpu  scale-out: two evaluators ${fmt(two!.perSecond, 0)} gates/s (${fmt(two!.cpuMicrosPerMessage, 0)} µs CPU per gate together) against one ${fmt(one!.perSecond, 0)} gates/s: ${fmt(two!.perSecond / one!.perSecond, 2)}× on this host's ${availableParallelism()} cores, which the broker, Postgres and this bench share`,
  );
  const profileDir = process.env.STEPGATE_BENCH_PROFILE;
  if (profileDir) {
    const drain = { pid: one!.measured.pids[0]!, window: one!.measured };
    const top = await topSelfTime(profileDir, drain);
    console.log(
      `evaluator-cpu  where one evaluator's CPU goes while it drains (self time of its main thread, profile in ${profileDir}): ` +
        top.map((t) => `${t.name} ${fmt(t.share * 100, 1)}%`).join('; '),
    );
    const mainThread = one!.mainThreadMicrosPerMessage;
    const components = await selfTimeByComponent(profileDir, drain);
    console.log(
      `evaluator-cpu  the same by component (Node's own work counted to the package that asked for it), share and µs per gate of its event loop's ${fmt(mainThread, 0)}: ` +
        components.map((c) => `${c.name} ${fmt(c.share * 100, 1)}% ${fmt(c.share * mainThread, 0)} µs`).join('; '),
    );
  }
};

/**
 * The two sides of an A/B bench: the baseline from STEPGATE_BENCH_BASELINE (another checkout; this one
 * to compare Node flags only), and each side's Node flags from STEPGATE_BENCH_BASELINE_NODE_FLAGS and
 * STEPGATE_BENCH_NODE_FLAGS (space-separated; the services' own when unset), and its environment settings
 * from STEPGATE_BENCH_BASELINE_ENV and STEPGATE_BENCH_ENV (space-separated NAME=value).
 */
function abSides(bench: string): { baseline: EvaluatorSource; current: EvaluatorSource; label: string } {
  const checkout = process.env.STEPGATE_BENCH_BASELINE;
  if (!checkout)
    throw new Error(
      `${bench} compares with another checkout or other Node flags: set STEPGATE_BENCH_BASELINE to its directory`,
    );
  const baseline = {
    checkout,
    nodeFlags: nodeFlagsFrom(process.env.STEPGATE_BENCH_BASELINE_NODE_FLAGS),
    env: envFrom(process.env.STEPGATE_BENCH_BASELINE_ENV),
  };
  const current = {
    nodeFlags: nodeFlagsFrom(process.env.STEPGATE_BENCH_NODE_FLAGS),
    env: envFrom(process.env.STEPGATE_BENCH_ENV),
  };
  const flags = (s: EvaluatorSource) =>
    [...(s.nodeFlags ?? []), ...Object.entries(s.env ?? {}).map(([k, v]) => `${k}=${v}`)].join(' ') || 'no flags';
  return {
    baseline,
    current,
    label: `baseline ${checkout} (${flags(baseline)}) | this checkout (${flags(current)})`,
  };
}

benches['evaluator-ab'] = async () => {
  const sides = abSides('evaluator-ab');
  await ensureServices();
  const r = await benchEvaluatorAb(endpoints, { backlog: 10_000, ...sides });
  const line = (runs: typeof r.current) =>
    runs
      .map(
        (d) =>
          `${fmt(d.cpuMicrosPerMessage, 0)} µs (event loop ${fmt(d.mainThreadMicrosPerMessage, 0)} µs, ${fmt(d.perSecond, 0)}/s)`,
      )
      .join(', ');
  const mean = (runs: typeof r.current, of: (d: (typeof runs)[number]) => number = (d) => d.cpuMicrosPerMessage) =>
    runs.reduce((s, d) => s + of(d), 0) / runs.length;
  const ratio = (of: (d: (typeof r.current)[number]) => number) => fmt(mean(r.current, of) / mean(r.baseline, of), 3);
  console.log(
    `evaluator-ab  CPU per gate of one evaluator draining ${fmt(10_000, 0)} gates, A B B A: ${sides.label} | baseline ${line(r.baseline)} | this checkout ${line(r.current)} | ratios: CPU ${ratio((d) => d.cpuMicrosPerMessage)}×, event loop ${ratio((d) => d.mainThreadMicrosPerMessage)}×, gates/s ${ratio((d) => d.perSecond)}×`,
  );
};

benches['latency-ab'] = async () => {
  const sides = abSides('latency-ab');
  await ensureServices();
  // The issue's load by default; STEPGATE_BENCH_RATE / STEPGATE_BENCH_WORKFLOWS to compare below saturation.
  const load = {
    rate: Number(process.env.STEPGATE_BENCH_RATE ?? 1_000),
    workflows: Number(process.env.STEPGATE_BENCH_WORKFLOWS ?? WORKFLOWS),
    count: 3_000,
  };
  const r = await benchGateLatencyAb(endpoints, { ...sides, ...load });
  const line = (runs: typeof r.current) => runs.map((d) => `p50 ${fmt(d.p50)} / p99 ${fmt(d.p99)} ms`).join(', ');
  console.log(
    `latency-ab  round trip at ${load.rate} gates/s over ${load.workflows} workflows, n=${load.count} each, A B B A: ${sides.label} | baseline ${line(r.baseline)} | this checkout ${line(r.current)}`,
  );
};

/**
 * STEPGATE_BENCH_ROUNDS=N (default 1): the A B B A run N times, each printed, then its ratios and their
 * median; the bare COPY's own speed drifts by more than the gap to the target between runs of an hour.
 */
benches['audit-ingest'] = async () => {
  await ensureServices();
  const rounds = Math.max(1, Number(process.env.STEPGATE_BENCH_ROUNDS ?? 1));
  const ratios: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const r = await benchAuditIngest(endpoints, 100_000);
    ratios.push(r.ingest.perSecond / r.copy.perSecond);
    printAuditIngest(r);
  }
  if (rounds > 1) {
    const median = percentile(
      [...ratios].sort((a, b) => a - b),
      50,
    );
    console.log(
      `audit-ingest  ${rounds} rounds: ratios ${ratios.map((x) => fmt(x, 2)).join(', ')}×, median ${fmt(median, 2)}× (target ≥0.8×)`,
    );
  }
};

function printAuditIngest(r: Awaited<ReturnType<typeof benchAuditIngest>>): void {
  console.log(
    `audit-ingest  ${r.events} events from Kafka into audit_log (dedup, hash chain, COPY per batch, offsets after commit), A B B A: ingests ${r.ingest.runs.map((x) => fmt(x, 0)).join(', ')} events/s, mean ${fmt(r.ingest.seconds, 1)} s, ${fmt(r.ingest.perSecond, 0)} events/s` +
      ` | bare COPY of the same rows (before and after: ${r.copy.runs.map((x) => fmt(x, 0)).join(', ')} rows/s): mean ${fmt(r.copy.seconds, 1)} s, ${fmt(r.copy.perSecond, 0)} rows/s | ratio ${fmt(r.ingest.perSecond / r.copy.perSecond, 2)}× (targets: ≥20,000 events/s, ≥0.8×)`,
  );
  const { consumer, consumerMainThread, otherThreads, postgres, broker, copyPostgres } = r.cpu;
  const seen = [
    `consumer process ${fmt(consumer, 0)} µs (all its threads; its main thread ${fmt(consumerMainThread, 0)} µs, the others of the first ingest ${otherThreads.map((x) => fmt(x, 1)).join(', ')} µs)`,
  ];
  if (postgres !== undefined) seen.push(`Postgres ${fmt(postgres, 0)} µs (bare COPY: ${fmt(copyPostgres!, 0)} µs/row)`);
  if (broker !== undefined) seen.push(`Kafka broker ${fmt(broker, 0)} µs`);
  const total = consumer + (postgres ?? 0) + (broker ?? 0);
  const cores = availableParallelism();
  const ceiling =
    postgres !== undefined && broker !== undefined
      ? ` | CPU-bound ceiling with all three on this host's ${cores} cores: ${fmt((cores * 1e6) / total, 0)} events/s`
      : '';
  console.log(`audit-ingest  CPU per event during the ingest: ${seen.join(', ')}${ceiling}`);
}

benches.replay = async () => {
  await ensureServices();
  for (const n of [10_000, 100_000]) {
    const r = await benchReplay(endpoints, n);
    console.log(
      `replay  ${r.rows} recorded gates against a draft (acme example + 1 policy; ${r.changed} would change): ${fmt(r.replay.seconds, 2)} s, ${fmt(r.replay.perSecond, 0)} gates/s` +
        ` | bare cursor scan of the same rows ${fmt(r.scan.perSecond, 0)} rows/s: ratio ${fmt(r.replay.perSecond / r.scan.perSecond, 2)}×` +
        ` | heap ${fmt(r.heapMiB.before, 0)} MiB before, ${fmt(r.heapMiB.max, 0)} MiB at most (bounded: two 500-row batches in memory)`,
    );
  }
};

const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(benches);
for (const name of wanted) {
  const bench = benches[name];
  if (!bench) throw new Error(`unknown benchmark ${name}; known: ${Object.keys(benches).join(', ')}`);
  await bench();
}
