import {
  KafkaConnection,
  deadLetter,
  type GroupConsumer,
  type IncomingBatch,
  type IncomingMessage,
  type MessageProducer,
} from '@stepgate/messaging';
import pg from 'pg';
import pino, { type Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { topicsFor, type DlqReason, type TopicName } from '@stepgate/contracts';
import {
  consumerLag,
  consumerLogs,
  createPool,
  databaseAnswers,
  holdBatchWhileDatabaseDown,
  RedoClock,
} from '@stepgate/runtime';
import { isRefusalOfTheData, isTransientDatabaseError } from '@stepgate/store';
import { DEFAULT_PREPARE_THREADS, DEFAULT_REDO_SLICE_FOR_MS, DEFAULT_WRITE_SLICE, type AuditConfig } from './config.js';
import { preparedEvents, type PreparedBatch, type PreparedEvent } from './prepare.js';
import { auditPreparer, type Preparer } from './preparer.js';
import { Partitions, writePrepared, type WriteResult } from './store.js';

/** SQLSTATE of a table that does not exist (a partition retention dropped). */
const UNDEFINED_TABLE = '42P01';

/** SQLSTATE of a row with no partition to go to (check_violation, as Postgres reports it). */
const NO_PARTITION_FOR_ROW = '23514';

/** A month's partition was dropped since this process created it: created again when the slice is redone. */
class PartitionMissingError extends Error {
  constructor(cause: unknown) {
    super('a partition of audit_log was dropped since it was created here: creating it again', { cause });
    this.name = 'PartitionMissingError';
  }
}

/** Slices remembered as failing (one per partition at most, but revoked partitions leave theirs). */
const MAX_FAILING_SLICES = 1_000;

/** Failures of a slice further apart than this (Postgres down meanwhile, a replay) start its clock again. */
const FAILURE_GAP_MS = 90_000;

/** Attempts a slice fails, however long they take, before an event failing alone is suspected. */
const REDO_ATTEMPTS_BEFORE_SUSPECTING = 3;

/** One attempt at writing a slice: what goes to the dlq, and what was written. */
interface SliceAttempt {
  messages: IncomingMessage[];
  /** Refused by the preparer, or by Postgres for their data. */
  rejected: Rejected[];
  /** Failed alone for no data reason after the slice was redone long enough (see `persistSlice`). */
  suspects: Rejected[];
  /** Parts of the slice that committed in this attempt. */
  partsWritten: number;
  redoneLongEnough: boolean;
}

/** No part of a slice could be written, though some of its events were suspected: Postgres's trouble. */
class SliceUnwritableError extends Error {
  constructor(readonly suspects: number) {
    super(`no part of the audit slice could be written (${suspects} event(s) failed alone): redoing it`);
    this.name = 'SliceUnwritableError';
  }
}

/** A failing part of a slice larger than this is split even when the failure is of the moment. */
const SPLIT_TRANSIENT_ABOVE = 64;

interface Rejected {
  message: IncomingMessage;
  reason: DlqReason;
  detail: string;
}

/**
 * Persists every event of the `audit` topic to `audit_log`, exactly once per event id. A batch's rows
 * commit before its offsets; while Postgres is unreachable the consumer holds its place and waits.
 */
export class AuditConsumer {
  readonly registry: Registry;
  private readonly rows: Counter;
  private readonly batchSeconds: Histogram;
  private readonly log: Logger;
  private readonly pool: pg.Pool;
  private readonly kafka: KafkaConnection;
  private readonly topics: Record<TopicName, string>;
  private readonly partitions = new Partitions();
  /** Slices failing while Postgres answers, by topic/partition/first offset. */
  private readonly failingSlices: RedoClock;
  private readonly preparer: Preparer;
  private consumer: GroupConsumer | undefined;
  private producer: MessageProducer | undefined;

  constructor(
    private readonly config: AuditConfig,
    registry = new Registry(),
    logger?: Logger,
  ) {
    this.registry = registry;
    this.failingSlices = new RedoClock({
      redoForMs: config.redoSliceForMs ?? DEFAULT_REDO_SLICE_FOR_MS,
      gapMs: FAILURE_GAP_MS,
      attemptsAtLeast: REDO_ATTEMPTS_BEFORE_SUSPECTING,
      maxKeys: MAX_FAILING_SLICES,
    });
    this.rows = new Counter({
      name: 'stepgate_audit_events_total',
      help: 'Audit events taken from the topic, by result',
      labelNames: ['result'],
      registers: [registry],
    });
    this.batchSeconds = new Histogram({
      name: 'stepgate_audit_batch_seconds',
      help: 'Time to persist one Kafka batch',
      registers: [registry],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    });
    this.log = logger ?? pino({ name: 'audit', base: { instance: config.instanceId } });
    this.pool = createPool(config, config.partitionsConcurrently + 2, this.log, { queryTimeoutMs: 30_000 });
    this.kafka = new KafkaConnection({
      clientId: config.instanceId,
      brokers: config.kafkaBrokers,
      ...config.kafkaSecurity,
    });
    this.topics = topicsFor(config.topicPrefix);
    this.preparer = auditPreparer(config.prepareThreads ?? DEFAULT_PREPARE_THREADS, this.log);
  }

  /** Running and in its group. */
  get ready(): boolean {
    return this.consumer?.ready ?? false;
  }

  /** Times the consumer was recreated after a crash. */
  get restarts(): number {
    return this.consumer?.restartCount ?? 0;
  }

  async start(): Promise<void> {
    await this.preparer.start();
    this.producer = await this.kafka.producer();
    this.consumer = this.kafka.batchConsumer({
      groupId: this.config.groupId,
      topics: [this.topics.audit],
      maxWaitTimeInMs: 50,
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxBytes: 48 * 1024 * 1024,
      sessionTimeoutMs: this.config.sessionTimeoutMs,
      partitionsConcurrently: this.config.partitionsConcurrently,
      ...consumerLag(this.registry, this.config.groupId),
      ...consumerLogs(this.log, { consumer: 'audit', unit: 'batch' }),
      handle: (batch) => this.handleBatch(batch),
    });
    await this.consumer.start();
    this.log.info({ group: this.config.groupId }, 'audit consumer running');
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    await this.producer?.disconnect();
    await this.preparer.close();
    await this.pool.end();
  }

  /** Redelivered batches are safe: stored ids are skipped. */
  private handleBatch(batch: IncomingBatch): Promise<void> {
    return holdBatchWhileDatabaseDown({ pool: this.pool, batch, log: this.log }, () => this.persist(batch));
  }

  private async persist(batch: IncomingBatch): Promise<void> {
    const messages = batch.messages;
    if (messages.length === 0) return;
    const started = performance.now();
    // A fetched batch can hold tens of thousands of events. Written in slices, each its own
    // transaction, Postgres stores one slice while the preparing thread prepares the next one (and
    // this thread chains and sends another partition's), instead of all waiting for each other at the
    // start and end of whole batches.
    const size = this.config.writeSlice ?? DEFAULT_WRITE_SLICE;
    const prepare = (from: number) => {
      const prepared = this.preparer.prepare(
        messages.slice(from, from + size).map((m) => m.value),
        Date.now(),
      );
      prepared.catch(() => undefined); // awaited below, or dropped with the rest of the batch
      return prepared;
    };
    // The next slice is prepared (on the preparing thread) while this one is written.
    let next = prepare(0);
    for (let i = 0; i < messages.length; i += size) {
      const slice = messages.slice(i, i + size);
      const prepared = await next;
      if (i + size < messages.length) next = prepare(i + size);
      await this.persistSlice(slice, prepared, batch.topic, batch.partition);
      batch.resolveOffset(slice.at(-1)!.offset);
      // A rebalance or shutdown does not wait for the rest of a large batch: the next owner resumes after this slice.
      if (!batch.isActive()) break;
      await batch.heartbeat();
    }
    batch.commit();
    this.batchSeconds.observe((performance.now() - started) / 1000);
  }

  private async persistSlice(
    messages: IncomingMessage[],
    batch: PreparedBatch,
    topic: string,
    partition: number,
  ): Promise<void> {
    const accepted = preparedEvents(batch);
    const slice = `${topic}/${partition}/${messages[0]?.offset ?? ''}`;
    const attempt: SliceAttempt = {
      messages,
      rejected: batch.rejected.map((r) => ({ message: messages[r.index]!, reason: r.reason, detail: r.detail })),
      suspects: [],
      partsWritten: 0,
      redoneLongEnough: this.redoneLongEnough(slice),
    };
    try {
      await this.writeOrSplit(accepted, attempt, true);
      // Events that failed alone for no data reason are at fault only when the rest of the slice could
      // be written: otherwise Postgres refuses everything, and the slice is held, not dead-lettered.
      if (attempt.suspects.length > 0 && attempt.partsWritten === 0)
        throw new SliceUnwritableError(attempt.suspects.length);
      attempt.rejected.push(...attempt.suspects);
      this.failingSlices.forget(slice);
    } catch (err) {
      await this.noteFailure(slice);
      throw err;
    }
    this.preparer.done(batch);
    if (attempt.rejected.length) await this.toDlq(attempt.rejected, topic, partition);
    this.rows.inc({ result: 'invalid' }, attempt.rejected.length);
  }

  /**
   * Whether this slice has failed while Postgres answered for longer than `redoSliceForMs`, over at
   * least REDO_ATTEMPTS_BEFORE_SUSPECTING attempts with no long gap between them (time with Postgres
   * down, or a replay reaching an old slice, does not count).
   */
  private redoneLongEnough(slice: string): boolean {
    return this.failingSlices.expired(slice);
  }

  private async noteFailure(slice: string): Promise<void> {
    if (await databaseAnswers(this.pool)) this.failingSlices.failed(slice);
    else this.failingSlices.forget(slice);
  }

  /**
   * Writes the events in one transaction, and counts them once it commits. When Postgres refuses the
   * data (`isRefusalOfTheData`: an event it cannot store), the halves are written apart, in order, down
   * to that event, which goes to the dlq with Postgres's reason: one such event among n costs about
   * 2·log2(n) transactions, not n. Any other failure while Postgres answers (a read-only node, a full
   * disk, a partition it may not create) is no event's fault: the batch is redone, never dead-lettered.
   * A failure of the moment (a lock or statement timeout, a deadlock with another partition's writer)
   * is redone too, except that a part of more than SPLIT_TRANSIENT_ABOVE events is split first, so that
   * a part too large to write in time is not redone for ever. Once the slice has been redone long enough
   * (`redoneLongEnough`), any other failure is split too, and an event failing alone is a suspect: at
   * fault only if the rest of the slice is written (`persistSlice`), so that an event meeting an error no
   * class names (a bug) cannot hold its partition for ever.
   */
  private async writeOrSplit(events: PreparedEvent[], attempt: SliceAttempt, whole: boolean): Promise<void> {
    try {
      const result = await this.write(events);
      attempt.partsWritten++;
      this.rows.inc({ result: 'inserted' }, result.inserted);
      this.rows.inc({ result: 'duplicate' }, result.duplicates);
      return;
    } catch (err) {
      if (!(await databaseAnswers(this.pool))) throw err;
      const dataRefused = isRefusalOfTheData(err);
      const transient = isTransientDatabaseError(err);
      const tooLargeForNow = transient && (whole || events.length > SPLIT_TRANSIENT_ABOVE);
      const suspect = attempt.redoneLongEnough && !dataRefused && !transient;
      if (!dataRefused && !suspect && !(tooLargeForNow && events.length > 1)) throw err;
      if (events.length === 1) {
        const failed: Rejected = {
          message: attempt.messages[events[0]!.index]!,
          reason: 'INVALID_AUDIT_EVENT',
          detail: `not storable: ${err instanceof Error ? err.message : String(err)}`,
        };
        (dataRefused ? attempt.rejected : attempt.suspects).push(failed);
        return;
      }
      if (whole)
        this.log.warn(
          { err, events: events.length },
          'audit slice refused while Postgres answers: writing it in halves',
        );
      const half = Math.ceil(events.length / 2);
      await this.writeOrSplit(events.slice(0, half), attempt, false);
      await this.writeOrSplit(events.slice(half), attempt, false);
    }
  }

  private async write(events: PreparedEvent[]): Promise<WriteResult> {
    const partition = await this.partitions.ensure(
      this.pool,
      events.map((e) => e.timestamp),
    );
    const client = await this.pool.connect();
    try {
      const result = await writePrepared(client, events, { partition });
      client.release();
      return result;
    } catch (err) {
      // A partition dropped by retention since it was created here is created again on the next try:
      // COPY into it finds no table; into audit_log (a slice spanning months), no partition for the row,
      // which is not the data's fault then.
      if (err instanceof pg.DatabaseError && err.code === UNDEFINED_TABLE) this.partitions.forget();
      if (err instanceof pg.DatabaseError && err.code === NO_PARTITION_FOR_ROW && partition === undefined) {
        this.partitions.forget();
        client.release();
        throw new PartitionMissingError(err);
      }
      // A connection that failed other than by Postgres's answer (a client-side timeout) is not reused.
      client.release(err instanceof pg.DatabaseError ? undefined : err instanceof Error ? err : new Error(String(err)));
      throw err;
    }
  }

  private async toDlq(rejected: Rejected[], topic: string, partition: number): Promise<void> {
    for (const r of rejected)
      this.log.warn(
        { reason: r.reason, detail: r.detail, source: `${topic}/${partition}@${r.message.offset}` },
        'invalid audit event sent to dlq',
      );
    await this.producer!.publish(
      rejected.map((r) =>
        deadLetter({
          topic: this.topics.dlq,
          original: r.message,
          source: { topic, partition, offset: r.message.offset },
          reason: r.reason,
          detail: r.detail,
        }),
      ),
    );
  }
}
