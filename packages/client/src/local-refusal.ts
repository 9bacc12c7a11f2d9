import {
  answerableId,
  MAX_ANSWERABLE_ID_CHARS,
  MAX_ECHO_CHARS,
  MAX_VALUE_BYTES,
  UNACCEPTABLE_MESSAGES,
  clip,
  echoable,
  findUnacceptable,
  type GateErrorCode,
} from '@stepgate/contracts';

/**
 * A gate request or step completion the client did not send: the evaluator could not have answered it
 * where this client waits (its refusal would go to `dlq` or name no workflow or step), so the caller
 * would only have seen a timeout, or it would refuse it for its size anyway (a completion, which
 * nothing answers, would be lost unseen). `code` is `INVALID_REQUEST`, the evaluator's code for what it
 * answers (a request_id it cannot answer to goes to `dlq`, `NO_REQUEST_ID`); `path` names the field
 * (`(root)`: the whole value).
 */
export class RefusedLocallyError extends Error {
  readonly code = 'INVALID_REQUEST' satisfies GateErrorCode;

  constructor(
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`not sent: ${path}: expected ${expected}; got ${actual}`);
    this.name = 'RefusedLocallyError';
  }
}

/** The fields of a request the evaluator reads before it can attribute a refusal to the signer's tenant. */
export interface OutgoingGateRequest {
  request_id: unknown;
  workflow_id: unknown;
  step_id: unknown;
}

/**
 * Why this request is not sent: the evaluator could not answer it to its sender, or would refuse it for
 * its size; undefined otherwise (it may still refuse it, under the sender's tenant: that refusal reaches
 * the client as a decision). `value` is the
 * exact bytes that would be sent.
 */
export function localRefusal(request: OutgoingGateRequest, value: Uint8Array): RefusedLocallyError | undefined {
  return (
    requestIdRefusal(request.request_id) ??
    sizeRefusal(value) ??
    echoRefusal('workflow_id', request.workflow_id) ??
    echoRefusal('step_id', request.step_id)
  );
}

/**
 * A request_id the evaluator cannot answer to goes to `dlq`. Any other it answers, refusing one the
 * schema does not take (not a UUID) as a decision with `error`, which reaches the caller as any refusal.
 */
function requestIdRefusal(id: unknown): RefusedLocallyError | undefined {
  if (answerableId(id)) return undefined;
  return new RefusedLocallyError(
    'request_id',
    `a non-empty string of at most ${MAX_ANSWERABLE_ID_CHARS} UTF-16 code units without NUL characters or lone UTF-16 surrogates (newRequestId() makes one)`,
    described(id),
  );
}

/** Over the cap: the evaluator refuses it whatever it holds (a completion, which nothing answers, unseen). */
export function sizeRefusal(value: Uint8Array, hint = ''): RefusedLocallyError | undefined {
  if (value.length <= MAX_VALUE_BYTES) return undefined;
  return new RefusedLocallyError(
    '(root)',
    `a value of at most ${MAX_VALUE_BYTES} bytes (${MAX_VALUE_BYTES / 1024} KiB) of UTF-8 JSON${hint}`,
    `${value.length} bytes`,
  );
}

/** What to do about a completion too large to send. */
export const COMPLETION_SIZE_HINT =
  '; send a summary of `output` instead: the evaluator keeps only whether there was one, and a bounded summary of it';

/**
 * A refusal carries the workflow and step ids only when it can echo them; the client takes a decision
 * only when they are the ones it sent, so a refusal without them would be ignored until the timeout.
 */
function echoRefusal(path: 'workflow_id' | 'step_id', value: unknown): RefusedLocallyError | undefined {
  if (echoable(value) !== null) return undefined;
  return new RefusedLocallyError(
    path,
    `a string of at most ${MAX_ECHO_CHARS} UTF-16 code units without NUL characters or lone UTF-16 surrogates`,
    described(value),
  );
}

/** What a refused value was, bounded: never the caller's string at its own length, nor a NUL or lone surrogate. */
function described(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value !== 'string') return value === null ? 'null' : `a value of type ${typeof value}`;
  const unacceptable = findUnacceptable(value);
  if (unacceptable) return `a string that ${UNACCEPTABLE_MESSAGES[unacceptable.kind]}`;
  if (value.length > MAX_ECHO_CHARS) return `a string of ${value.length} characters`;
  return JSON.stringify(clip(value, 80));
}
