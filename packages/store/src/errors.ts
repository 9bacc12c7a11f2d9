/** Base of the store's errors: callers classify them with instanceof, never by message. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** Raised at flush when another evaluator stored a first gate of a step this batch also inserted. */
export class ConcurrentFirstGate extends StoreError {
  constructor() {
    super('another evaluator stored the first gate of a step in this batch concurrently');
  }
}

/** The tenant a change names does not exist. */
export class UnknownTenantError extends StoreError {
  constructor(readonly tenantId: string) {
    super(`no such tenant "${tenantId}"`);
  }
}

/** An outbox row names a topic the contract does not know (written by something other than the store). */
export class UnknownOutboxTopicError extends StoreError {
  constructor(
    readonly id: string,
    readonly topic: string,
  ) {
    super(`outbox row ${id} names unknown topic "${topic}"`);
  }
}
