/**
 * Where a gate's round trip goes, from the evaluator's own metrics read before and after a run: the
 * sums and counts of its histograms are exact, so their differences give the run's means.
 * - request → batch: from the request's `requested_at` (the client's clock, the same host's) to the
 *   evaluator starting the batch holding it: the request's produce, the broker, the fetch;
 * - intake, decide, publish: the batch's stages, means per batch (a gate waits for its whole batch);
 * - decision → client: from the decision's publish acknowledged to the client holding it (the round
 *   trip's mean less the evaluator's end-to-end mean).
 */
import { createServer } from 'node:net';

/** The histogram sums and counts of one scrape, by series name with its labels (`name{labels}_sum`). */
export type MetricsScrape = Map<string, number>;

export async function scrapeMetrics(port: number): Promise<MetricsScrape> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!response.ok) throw new Error(`evaluator metrics: HTTP ${response.status}`);
  const series = new Map<string, number>();
  for (const line of (await response.text()).split('\n')) {
    const match = /^(stepgate_[a-z_]+?_(?:sum|count))(\{[^}]*\})? (\S+)$/.exec(line);
    if (match) series.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return series;
}

export interface StageBreakdown {
  /** Means in ms. Per gate: */
  requestToBatch: number;
  inEvaluator: number;
  decisionToClient: number;
  /** Per batch: */
  intake: number;
  decide: number;
  publish: number;
  gatesPerBatch: number;
}

export function stageBreakdown(before: MetricsScrape, after: MetricsScrape, roundTripMeanMs: number): StageBreakdown {
  const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
  const mean = (histogram: string, labels = '') =>
    (1000 * delta(`${histogram}_sum${labels}`)) / delta(`${histogram}_count${labels}`);
  const endToEnd = mean('stepgate_gate_end_to_end_seconds');
  const inEvaluator = mean('stepgate_evaluation_seconds');
  const stage = (name: string) => mean('stepgate_gate_batch_stage_seconds', `{stage="${name}"}`);
  return {
    requestToBatch: endToEnd - inEvaluator,
    inEvaluator,
    decisionToClient: roundTripMeanMs - endToEnd,
    intake: stage('intake'),
    decide: stage('decide'),
    publish: stage('publish'),
    gatesPerBatch:
      delta('stepgate_evaluation_seconds_count') / delta('stepgate_gate_batch_stage_seconds_count{stage="intake"}'),
  };
}

/** A TCP port free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}
