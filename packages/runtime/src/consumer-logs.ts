import type { FailedBatch } from '@stepgate/messaging';

interface WarnErrorLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

/**
 * What a service's consumer reports: a commit that failed (the next one covers it), a handler that
 * failed (its partition is fetched again after a pause: `failed` says when and how often in a row),
 * a crash. `consumer` names it in the logs; `unit` is what its handler takes (a batch, a message).
 */
export function consumerLogs(log: WarnErrorLog, p: { consumer: string; unit: 'batch' | 'message' }) {
  return {
    onCommitError: (err: unknown) =>
      log.warn({ consumer: p.consumer, error: String(err) }, 'offset commit failed; the next one covers it'),
    onHandlerError: (err: unknown, failed: FailedBatch) =>
      log.warn({ consumer: p.consumer, error: message(err), ...failed }, `${p.unit} failed: fetched again`),
    onCrash: (error: Error, restarting: boolean) =>
      log.error({ error: error.message, restarting }, `${p.consumer} consumer crashed; it is restarted`),
  };
}
