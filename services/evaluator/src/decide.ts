import pg from 'pg';
import type { Logger } from 'pino';
import type { GateDecision, GateRequest } from '@stepgate/contracts';
import { ledgerKey, refusalDecision } from '@stepgate/contracts';
import { Ed25519ThreadError, signDecisionOn, type Ed25519Threads, type ReceiptSigner } from '@stepgate/contracts/node';
import { databaseAnswers } from '@stepgate/runtime';
import {
  BatchLedger,
  CommitOutcomeUnknown,
  ConcurrentFirstGate,
  backendIdentity,
  endBackend,
  isRefusalOfTheData,
  isTransientDatabaseError,
  withClient,
  type BackendIdentity,
  type StepKey,
} from '@stepgate/store';
import type { BundleStore } from './bundles.js';
import type { FollowUp } from './follow-up.js';
import type { Heartbeat, RunContext } from './group-commit.js';
import { decideGate, refusalFor, type GateOutcome } from './gate.js';
import type { Intake } from './intake.js';
import type { KillSwitchStore } from './kill-switches.js';
import type { InputRedactor } from './recorded-input.js';

export interface DecideStageDeps {
  /** The decisions' own pool, pipelined (`createPool` with `pipeline: true`): see `decideAll`. */
  pool: pg.Pool;
  bundles: BundleStore;
  killSwitches: KillSwitchStore;
  redactor: InputRedactor;
  signer: ReceiptSigner;
  signatures: Ed25519Threads;
  portalBaseUrl: string | undefined;
  log: Logger;
  /**
   * How long a batch failing for Postgres's own reasons (a read-only node after a failover, a full
   * disk, a missing privilege) is redone before its requests are split and blocked after all (default
   * DEFAULT_REDO_UNWRITABLE_FOR_MS; 0: at once).
   */
  redoUnwritableForMs?: number;
  /** The redo's clock and waits (tests give their own). */
  timer?: RedoTimer;
}

/** Redoing an unwritable batch for this long answers a failover's gates within a client's default 30 s. */
export const DEFAULT_REDO_UNWRITABLE_FOR_MS = 10_000;

export interface RedoTimer {
  /** Monotonic milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

const REAL_TIMER: RedoTimer = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * The decide stage: a batch's authenticated requests decided in order, in one transaction over the
 * batch's ledger state; every new decision is signed and recorded in it. Refused intakes become
 * their refusal decisions; dead letters have no outcome.
 */
export class DecideStage {
  /** Backends whose connection failed after COMMIT was sent: each may still commit its batch. */
  private readonly unknownCommits = new Map<string, BackendIdentity>();
  /** The backend of each decide connection, read with its first transaction. */
  private readonly backends = new WeakMap<pg.PoolClient, BackendIdentity>();
  /**
   * When a batch last could write nothing for Postgres's own reasons, even past its redo (undefined
   * once a transaction commits or Postgres stops answering). For `redoUnwritableForMs` after that, a
   * batch Postgres refuses whole for such a reason is not redone: it is split at once.
   */
  private writesFailingSince: number | undefined;

  constructor(private readonly deps: DecideStageDeps) {}

  /**
   * Before any batch is decided again, every backend whose COMMIT went out unanswered is ended and
   * seen gone. Correctness does not rest on this (that backend holds its batch's row locks until it
   * ends, and a second first gate or decision of the same keys fails the write, SG409); it keeps a
   * redo from waiting on a backend that may never be told its client left.
   */
  private async settleUnknownCommits(): Promise<void> {
    for (const [key, backend] of this.unknownCommits) {
      let gone: boolean;
      try {
        gone = await endBackend(this.deps.pool, backend, SETTLE_TIMEOUT_MS);
      } catch (err) {
        throw new BackendNotSettled(backend.pid, err);
      }
      if (!gone) throw new BackendNotSettled(backend.pid);
      this.unknownCommits.delete(key);
      this.deps.log.warn(
        { backend_pid: backend.pid },
        'a batch whose COMMIT went unanswered is settled; it is decided again',
      );
    }
  }

  /**
   * When the batch's transaction fails while Postgres answers and refuses what it was given (a data
   * exception, a constraint, a raise: `isRefusalOfTheData`), a request in it is at fault: its halves
   * are decided apart, in order, and so on down to the request, which is blocked (ENGINE_ERROR, fail
   * closed) instead of holding the partition for ever. One such request among n costs about 2·log2(n)
   * transactions, not n (deciding them one at a time let one tenant's request slow a whole group commit).
   *
   * Any other refusal of the whole batch by Postgres (a read-only node after a failover, a full disk, a
   * missing privilege) is no request's: the batch is redone here, backing off and beating the
   * heartbeat, until `redoUnwritableForMs` after its run started (`context.startedAt`: one bound for all
   * the chunks of a group commit), so a short failover answers its gates once Postgres writes again
   * rather than blocking them. Past that it is split as above, so an error no class names (a bug
   * meeting one request) cannot hold a partition; when nothing can be written, that split costs two
   * failed transactions per request. Batches that Postgres refuses whole in the same way soon after
   * are split at once, without the redo (`writesFailingSince`).
   */
  async decide(
    intakes: Array<Intake<GateRequest>>,
    now: number,
    context: Partial<RunContext> = {},
  ): Promise<Array<GateOutcome | undefined>> {
    const timer = this.deps.timer ?? REAL_TIMER;
    const heartbeat = context.heartbeat ?? (async () => undefined);
    const redoFor = this.deps.redoUnwritableForMs ?? DEFAULT_REDO_UNWRITABLE_FOR_MS;
    const since = this.writesFailingSince;
    const writesFailing = since !== undefined && timer.now() - since < redoFor;
    const redoUntil = writesFailing ? Number.NEGATIVE_INFINITY : (context.startedAt ?? timer.now()) + redoFor;
    for (let attempt = 0; ; attempt++) {
      const run: RunState = { commits: 0, unwritable: false };
      try {
        const outcomes = await this.decideOrSplit({
          intakes,
          now: attempt === 0 ? now : Math.max(now, Date.now()),
          heartbeat,
          whole: true,
          redoUnwritable: timer.now() < redoUntil,
          run,
        });
        if (run.commits > 0) this.writesFailingSince = undefined;
        else if (run.unwritable) this.writesFailingSince = timer.now();
        return outcomes;
      } catch (err) {
        if (!(err instanceof UnwritableBatch)) throw err;
        if (attempt === 0)
          this.deps.log.warn(
            { requests: intakes.length, sqlstate: err.cause.code, error: err.cause.message, redo_for_ms: redoFor },
            'Postgres cannot record the batch now (not its requests’ fault): redoing it',
          );
        await heartbeat();
        const wait = Math.min(REDO_BACKOFF_MAX_MS, REDO_BACKOFF_MS * 2 ** attempt, redoUntil - timer.now());
        if (wait > 0) await timer.sleep(wait);
      }
    }
  }

  private async decideOrSplit(p: {
    intakes: Array<Intake<GateRequest>>;
    now: number;
    heartbeat: Heartbeat;
    /** The batch as handed in, not a part of it. */
    whole: boolean;
    /** Whether the whole batch failing for Postgres's own reasons is redone (see `decide`). */
    redoUnwritable: boolean;
    run: RunState;
  }): Promise<Array<GateOutcome | undefined>> {
    const { intakes, now, heartbeat, whole, redoUnwritable, run } = p;
    try {
      return await this.decideAll(intakes, now, run);
    } catch (err) {
      // No request is at fault when a signature thread failed (the threads give way to the event loop
      // when they keep failing) or the connection did: the batch is redone.
      if (notTheRequests(err)) throw err;
      if (!(await databaseAnswers(this.deps.pool))) {
        this.writesFailingSince = undefined; // what Postgres does once back is not known
        throw err;
      }
      // Only the whole batch is redone: a part failing after another part committed is split and
      // blocked, or the batch would be redone (and that part committed again) for ever.
      if (postgresCannotWrite(err) && whole) {
        if (redoUnwritable) throw new UnwritableBatch(err);
        run.unwritable = true;
        // A read-only node refuses every request alike: trying each would cost two failed transactions
        // per request of a backlog's 2,000-gate group commit, for the same answer.
        if (err.code === READ_ONLY_TRANSACTION && (await this.postgresIsReadOnly()))
          return this.blockedUntried(intakes, err, now);
      }
      if (intakes.length === 1) return [this.unrecordable(intakes[0]!, err, now)];
      // A part failing for the moment is split again only while it is large (too large to write in
      // time); a small one is redone with the batch, so that a lock wait costs a few statement
      // timeouts, not one per level down to a single request.
      if (!whole && transientFailure(err) && intakes.length <= SPLIT_TRANSIENT_ABOVE) throw err;
      if (whole)
        this.deps.log.warn(
          { requests: intakes.length, error: err instanceof Error ? err.message : String(err) },
          'batch transaction failed while Postgres answers: deciding its halves apart',
        );
    }
    // Each part may wait up to the statement timeout: beats between them keep a long split from
    // costing the group membership, and each part decides at the time it starts.
    const half = Math.ceil(intakes.length / 2);
    const outcomes: Array<GateOutcome | undefined> = [];
    for (const part of [intakes.slice(0, half), intakes.slice(half)]) {
      await heartbeat();
      outcomes.push(
        ...(await this.decideOrSplit({ ...p, intakes: part, now: Math.max(now, Date.now()), whole: false })),
      );
    }
    return outcomes;
  }

  /** Whether the decide connections' Postgres takes no writes at all (a standby, or read-only by default). */
  private async postgresIsReadOnly(): Promise<boolean> {
    try {
      const { rows } = await this.deps.pool.query<{ read_only: boolean }>(
        `select pg_is_in_recovery() or current_setting('default_transaction_read_only')::boolean as read_only`,
      );
      return rows[0]?.read_only === true;
    } catch {
      return false;
    }
  }

  /** Outcomes for requests not tried, Postgres taking no writes: accepted ones blocked. */
  private blockedUntried(
    intakes: Array<Intake<GateRequest>>,
    cause: pg.DatabaseError,
    now: number,
  ): Array<GateOutcome | undefined> {
    return intakes.map((got) => (got.kind === 'accepted' ? this.unrecordable(got, cause, now) : refused(got, now)));
  }

  /** The refusal of a request whose own transaction failed while Postgres answers; throws when it is not at fault. */
  private unrecordable(got: Intake<GateRequest>, err: unknown, now: number): GateOutcome {
    // Postgres failed for the moment on this request alone (a timeout waiting on another evaluator's
    // locks, a deadlock, another evaluator storing a first gate or decision of it concurrently, again):
    // the batch is redone rather than the request blocked.
    if (transientFailure(err) || got.kind !== 'accepted') throw err;
    // Postgres's own text may name tables, constraints or values: it is logged, never echoed.
    const message = 'the request could not be recorded';
    this.deps.log.error(
      { request_id: got.attribution.id, error: err instanceof Error ? err.message : String(err) },
      'request blocked: Postgres refused its ledger write',
    );
    const identity = refusalFor(got.attribution, got.credential.tenantId, now);
    return { body: refusalDecision({ ...identity, code: 'ENGINE_ERROR', message }), redelivered: false };
  }

  private async decideAll(
    intakes: Array<Intake<GateRequest>>,
    now: number,
    run: RunState,
  ): Promise<Array<GateOutcome | undefined>> {
    const keys = intakes.flatMap((got) =>
      got.kind === 'accepted'
        ? [
            {
              tenantId: got.credential.tenantId,
              workflowId: ledgerKey(got.body.workflow_id),
              stepId: got.body.step_id,
              userId: got.body.user_id,
              requestId: ledgerKey(got.body.request_id),
            },
          ]
        : [],
    );
    if (keys.length === 0) return intakes.map((got) => refused(got, now));

    await this.settleUnknownCommits();
    for (let attempt = 0; ; attempt++) {
      try {
        // withClient listens for the connection's errors and discards a client whose transaction failed.
        const outcomes = await withClient(this.deps.pool, (client) => this.transaction(client, intakes, keys, now));
        run.commits++;
        return outcomes;
      } catch (err) {
        if (err instanceof ConcurrentFirstGate && attempt === 0) continue;
        throw err;
      }
    }
  }

  /**
   * One transaction over the batch, on a pipelined connection: BEGIN goes out with the ledger's read,
   * COMMIT right behind its write (two round trips). Protected: the redo and split around it are
   * tested against scripted outcomes.
   */
  protected async transaction(
    client: pg.PoolClient,
    intakes: Array<Intake<GateRequest>>,
    keys: StepKey[],
    now: number,
  ): Promise<Array<GateOutcome | undefined>> {
    try {
      const identified = this.backends.has(client)
        ? undefined
        : backendIdentity(client).then((backend) => void this.backends.set(client, backend));
      const ledger = new BatchLedger(client);
      await Promise.all([identified, client.query('begin'), ledger.load(keys)]);
      const outcomes: Array<GateOutcome | undefined> = [];
      const signing: Signing[] = [];
      for (const got of intakes) {
        if (got.kind !== 'accepted') {
          outcomes.push(refused(got, now));
          continue;
        }
        const tenantId = got.credential.tenantId;
        const outcome = await decideGate(ledger, {
          tenantId,
          request: got.body,
          attribution: got.attribution,
          now,
          bundles: this.deps.bundles,
          killSwitches: this.deps.killSwitches,
          redactor: this.deps.redactor,
          portalBaseUrl: this.deps.portalBaseUrl,
        });
        if (!outcome.redelivered) {
          const requestId = ledgerKey(got.body.request_id);
          // Signed after the loop, all in one hand-off to the signature threads. A second delivery of
          // this request later in the batch is answered from this unsigned body, which the emit
          // stage signs like any unsigned decision (Ed25519 is deterministic: the same receipt).
          // An unrecorded outcome (its request id is another tenant's) is stored nowhere, nor is its follow-up.
          const followUp = outcome.unrecorded ? undefined : followUpOf(outcome, got.credential.principal);
          if (followUp) ledger.markDecided({ tenantId, requestId, body: outcome.body, followUp });
          const signed = signDecisionOn(this.deps.signatures, outcome.body, this.deps.signer);
          signed.catch(() => undefined); // awaited below, unless an earlier gate's failure ends the batch
          signing.push({ outcome, tenantId, requestId, signed, followUp });
        }
        outcomes.push(outcome);
      }
      for (const { outcome, tenantId, requestId, signed, followUp } of signing) {
        const stored = await signed;
        outcome.stored = stored;
        outcome.storedJson = JSON.stringify(stored);
        if (followUp)
          ledger.recordDecision({
            tenantId,
            requestId,
            decision: stored,
            json: outcome.storedJson,
            followUp,
          });
      }
      await ledger.writeAndCommit();
      return outcomes;
    } catch (err) {
      const backend = this.backends.get(client);
      if (err instanceof CommitOutcomeUnknown && backend)
        this.unknownCommits.set(`${backend.pid}:${backend.startedAt}`, backend);
      else if (!(err instanceof CommitOutcomeUnknown)) await client.query('rollback').catch(() => undefined);
      throw err;
    }
  }
}

/** A backend whose COMMIT went unanswered is still running: no batch may be decided until it is gone. */
export class BackendNotSettled extends Error {
  constructor(
    readonly backendPid: number,
    override readonly cause?: unknown,
  ) {
    super(`backend ${backendPid}, whose COMMIT went unanswered, could not be seen gone`);
    this.name = 'BackendNotSettled';
  }
}

/**
 * Postgres refused a batch for its own reasons, not its requests' (see `DecideStage.decide`): the batch
 * is redone. The cause is Postgres's error.
 */
export class UnwritableBatch extends Error {
  constructor(override readonly cause: pg.DatabaseError) {
    super(`Postgres cannot record the batch now (SQLSTATE ${cause.code ?? 'unknown'}): redoing it`);
    this.name = 'UnwritableBatch';
  }
}

/** What one attempt at a batch found: transactions committed, and whether Postgres refused it whole for its own reasons. */
interface RunState {
  commits: number;
  /** Set when the whole batch was refused for Postgres's own reasons past its redo, and it is split. */
  unwritable: boolean;
}

/** SQLSTATE read_only_sql_transaction: what a standby, or a node read-only by default, answers a write. */
const READ_ONLY_TRANSACTION = '25006';

/** The first wait before an unwritable batch is redone; it doubles up to REDO_BACKOFF_MAX_MS. */
const REDO_BACKOFF_MS = 250;
const REDO_BACKOFF_MAX_MS = 2_000;

/** Postgres answered with a refusal that names neither the data nor the moment (see `DecideStage.decide`). */
function postgresCannotWrite(err: unknown): err is pg.DatabaseError {
  return err instanceof pg.DatabaseError && !isRefusalOfTheData(err) && !isTransientDatabaseError(err);
}

/** How long ending a backend whose COMMIT went unanswered may take before the batch is failed (and retried). */
const SETTLE_TIMEOUT_MS = 5_000;

/**
 * Parts of a split batch larger than this are split again when they fail for the moment (a statement
 * timeout: too large to write in time); smaller ones are redone with the batch.
 */
const SPLIT_TRANSIENT_ABOVE = 64;

/** Postgres failed for the moment (a lock or statement timeout, a deadlock, a concurrent first gate): worth redoing. */
function transientFailure(err: unknown): boolean {
  return isTransientDatabaseError(err) || err instanceof ConcurrentFirstGate;
}

/** A failure no request of the batch caused. */
function notTheRequests(err: unknown): boolean {
  return err instanceof Ed25519ThreadError || err instanceof CommitOutcomeUnknown || err instanceof BackendNotSettled;
}

/** A fresh decision whose signature is being computed. */
interface Signing {
  outcome: GateOutcome;
  tenantId: string;
  requestId: string;
  signed: Promise<GateDecision>;
  /** Undefined for an outcome that is not recorded. */
  followUp: FollowUp | undefined;
}

/** What a fresh decision's publication carries besides it, stored with it (see FollowUpSchema). */
function followUpOf(outcome: GateOutcome, principal: string): FollowUp {
  const approval = outcome.approval;
  return {
    principal,
    tool_access: outcome.tool_access ?? null,
    ...(approval
      ? {
          approval: {
            approval_id: approval.approval_id,
            severity: approval.severity,
            timeout_seconds: approval.timeout_seconds,
            usage_increments: approval.usage_increments,
            rule: approval.rule,
          },
        }
      : {}),
  };
}

function refused(got: Intake<GateRequest>, now: number): GateOutcome | undefined {
  if (got.kind !== 'rejected') return undefined;
  return {
    body: refusalDecision({
      ...refusalFor(got.attribution, got.tenantId, now),
      code: got.code,
      message: got.message,
      ...(got.details === undefined ? {} : { details: got.details }),
    }),
    redelivered: false,
  };
}
