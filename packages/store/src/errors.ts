/** Base of the store's errors: callers classify them with instanceof, never by message. */
export class StoreError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * Another evaluator stored, concurrently, a first gate of a step this batch also inserted or a
 * decision of a request this batch also decided (raised by the batch's write), or a first gate
 * between the batch's lock statement and its read (raised by the read, which counts more rows than
 * were locked). The batch is then read and decided again, and sees what the other stored.
 */
export class ConcurrentFirstGate extends StoreError {
  constructor() {
    super('another evaluator stored a first gate or a decision of this batch concurrently');
  }
}

/**
 * The connection failed after COMMIT was sent behind a batch's write, before COMMIT answered: the
 * transaction may yet commit on the server. Nothing may redo the batch until that backend is gone.
 */
export class CommitOutcomeUnknown extends StoreError {
  constructor(
    readonly backendPid: number,
    override readonly cause: unknown,
  ) {
    super(`the connection to backend ${backendPid} failed after COMMIT was sent; whether it committed is unknown`);
  }
}

/** COMMIT answered ROLLBACK without the write failing first (the transaction had failed earlier). */
export class TransactionRolledBack extends StoreError {
  constructor(readonly command: string) {
    super(`COMMIT answered ${command}`);
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

/** A reply_to workflow-id prefix that does not end in a delimiter (`acme` would allow `acme2-…`). */
export class ReplyToPrefixUndelimitedError extends StoreError {
  readonly code = 'REPLY_TO_PREFIX_UNDELIMITED';
  constructor(readonly prefix: string) {
    super(`workflow-id prefix "${prefix.slice(0, 80)}" must end in one of - : / . _`);
  }
}

/** A reply_to workflow-id prefix that overlaps another tenant's in a namespace both allow. */
export class ReplyToPrefixOverlapError extends StoreError {
  readonly code = 'REPLY_TO_PREFIX_OVERLAP';
  constructor(
    readonly prefix: string,
    readonly otherTenantId: string,
    readonly namespace: string,
  ) {
    super(
      `workflow-id prefix "${prefix.slice(0, 80)}" overlaps a prefix of tenant "${otherTenantId}" in namespace "${namespace}"`,
    );
  }
}

/** A principal is linked to at most one identity: otherwise one person could count twice toward a quorum. */
export class PrincipalAlreadyLinkedError extends StoreError {
  readonly code = 'PRINCIPAL_ALREADY_LINKED';
  constructor(
    readonly principal: string,
    /** The other identity's issuer, when known (not when a concurrent link won the race). */
    readonly issuer?: string,
  ) {
    super(
      `principal "${principal}" is already linked to another identity${issuer ? ` (at ${issuer})` : ''}; unlink it first (stepgate credentials unlink-identity)`,
    );
  }
}
