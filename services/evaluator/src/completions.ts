import type pg from 'pg';
import { ledgerKey, type StepCompletion } from '@stepgate/contracts';
import type { IncomingMessage, MessageSource } from '@stepgate/messaging';
import { StepLedgerRepository } from '@stepgate/store';
import { summarize, type BatchMessages } from './batch-messages.js';
import type { EmitStage } from './emit.js';
import type { Intake } from './intake.js';

export interface CompletionStageDeps {
  pool: pg.Pool;
  emit: EmitStage;
  redactKeys: readonly string[] | undefined;
}

/** Step completions: counted once per completion_id on the step's ledger row, and audited. */
export class CompletionStage {
  private readonly ledger: StepLedgerRepository;

  constructor(private readonly deps: CompletionStageDeps) {
    this.ledger = new StepLedgerRepository(deps.pool);
  }

  async record(
    message: IncomingMessage,
    got: Intake<StepCompletion>,
    messages: BatchMessages,
    source: MessageSource,
  ): Promise<void> {
    const started = performance.now();
    if (got.kind !== 'accepted') {
      const [reason, detail] = got.kind === 'dlq' ? [got.reason, got.detail] : [got.code, got.message];
      this.deps.emit.deadLetter(messages, message, source, reason, detail);
      return;
    }
    const c = got.body;
    const tenantId = got.credential.tenantId;
    // Counted once per completion_id: a redelivery is audited again but not counted again.
    const counted = await this.ledger.recordCompletion({
      tenantId,
      workflowId: ledgerKey(c.workflow_id),
      stepId: c.step_id,
      completionId: c.completion_id,
      outputAvailable: c.output !== undefined,
    });
    const known = counted !== 'unknown_step';
    messages.audit({
      tenant_id: tenantId,
      workflow_id: c.workflow_id,
      step_id: c.step_id,
      action: 'StepCompleted',
      outcome: known ? 'Completed' : 'UnknownStep',
      inputs_summary: summarize({ step_input: c.output }, this.deps.redactKeys),
      elapsed_ms: performance.now() - started,
      error_code: known ? null : 'UNKNOWN_STEP',
      detail: {
        completion_id: c.completion_id,
        tokens_in: c.tokens_in ?? null,
        tokens_out: c.tokens_out ?? null,
        cost_usd: c.cost_usd ?? null,
      },
    });
  }
}
