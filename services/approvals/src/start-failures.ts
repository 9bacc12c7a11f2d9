import { isGrpcServiceError, ServiceError } from '@temporalio/client';
import { isTransientDatabaseError } from '@stepgate/store';

/** gRPC status codes (grpc/status.proto) Temporal answers with. */
const GRPC = {
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNAVAILABLE: 14,
} as const;

/** Refusals of the request itself: sent again, it is refused again (e.g. a search attribute over its size limit). */
const REFUSED = new Set<number>([GRPC.INVALID_ARGUMENT, GRPC.OUT_OF_RANGE]);
/** Failures of the moment: load shed, a deadline, a server restarting. */
const TRANSIENT = new Set<number>([
  GRPC.CANCELLED,
  GRPC.DEADLINE_EXCEEDED,
  GRPC.RESOURCE_EXHAUSTED,
  GRPC.ABORTED,
  GRPC.UNAVAILABLE,
]);

/**
 * Why starting an approval failed, by the error's type and code: `refused`, the request is at fault
 * (dead-lettered at once); `transient`, it passes (retried many times); `unknown`, anything else
 * (retried a few times). Only failures while Postgres and Temporal both answer are counted.
 */
export type StartFailure = 'refused' | 'transient' | 'unknown';

export function classifyStartFailure(err: unknown): StartFailure {
  const grpc = err instanceof ServiceError && isGrpcServiceError(err.cause) ? err.cause : err;
  if (isGrpcServiceError(grpc)) {
    if (REFUSED.has(grpc.code)) return 'refused';
    if (TRANSIENT.has(grpc.code)) return 'transient';
    return 'unknown';
  }
  return isTransientDatabaseError(err) ? 'transient' : 'unknown';
}

/** Failed starts a request may have before it is dead-lettered while Postgres and Temporal answer. */
export const START_ATTEMPTS: Record<Exclude<StartFailure, 'refused'>, number> = { transient: 60, unknown: 4 };
