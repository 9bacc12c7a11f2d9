import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class EvaluatorMetrics {
  readonly registry = new Registry();
  readonly decisions = new Counter({
    name: 'stepgate_decisions_total',
    help: 'Gate decisions published',
    labelNames: ['decision', 'source', 'error_code'],
    registers: [this.registry],
  });
  readonly dlq = new Counter({
    name: 'stepgate_dlq_total',
    help: 'Messages sent to the dead-letter topic',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly evaluationSeconds = new Histogram({
    name: 'stepgate_evaluation_seconds',
    help: 'Time to decide one gate request (ledger transaction included)',
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  /** Per batch of gate requests: how long its intake (signatures, schema), decide (ledger transaction, engine, signing) and publish stages took. */
  readonly batchStageSeconds = new Histogram({
    name: 'stepgate_gate_batch_stage_seconds',
    help: 'Time a batch of gate requests spent in each stage: intake, decide, publish',
    labelNames: ['stage'],
    buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly endToEndSeconds = new Histogram({
    name: 'stepgate_gate_end_to_end_seconds',
    help: 'From requested_at to the decision being published',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });

  readonly shadowDivergences = new Counter({
    name: 'stepgate_shadow_divergences_total',
    help: "Gates on which a tenant's shadow bundle decided otherwise than the active bundle",
    labelNames: ['active', 'shadow'],
    registers: [this.registry],
  });

  readonly signatureThreadsDegraded = new Gauge({
    name: 'stepgate_signature_threads_degraded',
    help: '1 when the Ed25519 worker threads kept failing and verifying and signing run on the event loop',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
