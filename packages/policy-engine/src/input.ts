import type { GateStep, RetryContext } from '@stepgate/contracts';
import type { UnevaluableCounts } from './operators.js';

/** Everything one evaluation reads. Time and state are inputs: the engine never reads a clock or a store. */
export interface EvaluationInput {
  step: GateStep;
  /** The tenant of the caller's credential (never the payload's claim). */
  tenant_id: string;
  /** Retry state from the step ledger; absent means this is the step's first gate. */
  retry?: RetryContext;
  /** Evaluation time, epoch milliseconds. */
  now: number;
  /** Current counter values by usage key (see `usage_keys_read`); a missing key counts as 0. */
  usage?: Readonly<Record<string, number>>;
  user_roles?: readonly string[];
  /** Which policies apply: `workflow` (step gates, the default) or `gateway`. */
  scope?: 'workflow' | 'gateway';
}

export { MAX_TOOL_INPUT_KEYS } from '@stepgate/contracts';
import { MAX_TOOL_INPUT_KEYS } from '@stepgate/contracts';

/** Per-evaluation scratch state: lazily derived views of the input plus the counters. */
export class EvaluationState {
  readonly unevaluable: UnevaluableCounts = { missing_field: 0, type_mismatch: 0 };
  readonly usageKeysRead: string[] = [];
  private toolInputKeys: Set<string> | null | undefined;
  toolInputKeysIgnored = 0;

  constructor(readonly input: EvaluationInput) {}

  usage(key: string): number {
    this.usageKeysRead.push(key);
    return this.input.usage?.[key] ?? 0;
  }

  /** tool_input.* exposes at most 50 keys (sorted); null means all keys are visible. */
  visibleToolInputKeys(): Set<string> | null {
    if (this.toolInputKeys === undefined) {
      const keys = Object.keys(this.input.step.tool_context?.tool_input ?? {});
      if (keys.length <= MAX_TOOL_INPUT_KEYS) this.toolInputKeys = null;
      else {
        this.toolInputKeys = new Set(keys.sort().slice(0, MAX_TOOL_INPUT_KEYS));
        this.toolInputKeysIgnored = keys.length - MAX_TOOL_INPUT_KEYS;
      }
    }
    return this.toolInputKeys;
  }
}
