import type { Consumer, EachBatchPayload } from 'kafkajs';
import { OffsetCommitter } from './committer.js';
import { groupMembershipLost, MessageAbandoned } from './errors.js';
import type { IncomingMessage } from './messages.js';

/** One fetched batch of one partition, handed to a batch handler. */
export interface IncomingBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** Whether the consumer still owns this partition and runs (not stopping): when false, stop and leave the rest. */
  isActive(): boolean;
  /** Keeps the group membership during long work (throttled to the heartbeat interval). */
  heartbeat(): Promise<void>;
  /** Marks the batch processed up to and including `offset` (its effects are durable). */
  resolveOffset(offset: string): void;
  /** Hands the resolved offsets to the committer: committed soon, without holding up the next batch. */
  commit(): void;
}

export interface ConsumerCommon {
  groupId: string;
  topics: string[];
  /** Where a group without committed offsets starts: the earliest record (default) or the end. */
  fromBeginning?: boolean;
  /** How long the broker may hold a fetch waiting for data. */
  maxWaitTimeInMs?: number;
  /** Consumer-group session timeout: how soon a dead member's partitions move to the others. */
  sessionTimeoutMs?: number;
  /** Start each partition at its end as of `start()`, whatever the group committed (a reader of the present). */
  fromNow?: { ends: (topic: string) => Promise<Array<{ partition: number; high: string }>> };
  /** Called on every join of the group (start, rebalance, rejoin after a lost session). */
  onGroupJoin?: () => void;
  /** Called when the consumer crashes (kafkajs restarts it when the error is retriable). */
  onCrash?: (error: Error, restarting: boolean) => void;
  /**
   * After each batch, handled or failed: the partition's lag behind its high watermark, from the
   * first offset not resolved (a partition whose batches keep failing shows its lag growing).
   */
  onBatchEnd?: (lag: { topic: string; partition: number; offsetLag: number }) => void;
}

export interface BatchConsumerOptions extends ConsumerCommon {
  /** Partitions processed at once (order holds within each partition). */
  partitionsConcurrently?: number;
  maxBytesPerPartition?: number;
  maxBytes?: number;
  handle: (batch: IncomingBatch) => Promise<void>;
  onCommitError: (err: unknown) => void;
  /**
   * A handler failed: its partition is paused for `retryInMs`, then fetched again from its last
   * resolved offset (see `retriedAfterPause`). Report it here; it is not thrown to kafkajs, unless
   * this throws.
   */
  onHandlerError: (err: unknown, failed: FailedBatch) => void;
}

/** Where a batch handler failed, and when its unresolved messages are fetched again. */
export interface FailedBatch {
  topic: string;
  partition: number;
  /** Failures of this partition's batches in a row, this one included. */
  failures: number;
  retryInMs: number;
}

/** Where a message came from, and a way to keep the membership while its handling waits. */
export interface MessageContext {
  topic: string;
  partition: number;
  /**
   * Keeps the membership; throws MessageAbandoned once the batch is no longer active (the consumer is
   * stopping, or lost the partition), which the handler must let through.
   */
  heartbeat(): Promise<void>;
}

export interface MessageConsumerOptions extends ConsumerCommon {
  handle: (message: IncomingMessage, context: MessageContext) => Promise<void>;
  onCommitError: BatchConsumerOptions['onCommitError'];
  /** A message's handler failed: its partition is fetched again from that message after a pause. */
  onHandlerError: BatchConsumerOptions['onHandlerError'];
}

/** kafkajs's default heartbeat interval, used when no session timeout is set. */
const KAFKAJS_HEARTBEAT_INTERVAL_MS = 3_000;

function groupSettings(options: ConsumerCommon) {
  return {
    groupId: options.groupId,
    maxWaitTimeInMs: options.maxWaitTimeInMs ?? 50,
    ...(options.sessionTimeoutMs !== undefined
      ? {
          sessionTimeout: options.sessionTimeoutMs,
          heartbeatInterval: heartbeatIntervalMs(options),
        }
      : {}),
    retry: { retries: 10 },
  };
}

function heartbeatIntervalMs(options: ConsumerCommon): number {
  return options.sessionTimeoutMs === undefined
    ? KAFKAJS_HEARTBEAT_INTERVAL_MS
    : Math.max(500, Math.floor(options.sessionTimeoutMs / 5));
}

/**
 * A batch's heartbeat that, once a beat has said the membership is lost, answers calls in the next
 * `intervalMs` with that failure instead of a request. kafkajs throttles only successful beats: after
 * the coordinator had dropped the member (a run longer than the session timeout), every call went to
 * the broker, and a loop beating between requests sent thousands a second while the batch went on. A
 * transient failure (a timeout, a moved coordinator) is not kept: the next call beats again.
 */
export function throttledHeartbeat(
  beat: () => Promise<void>,
  intervalMs: number,
  now: () => number = Date.now,
): () => Promise<void> {
  let failed: { at: number; err: unknown } | undefined;
  return async () => {
    if (failed && now() - failed.at < intervalMs) throw failed.err;
    try {
      await beat();
      failed = undefined;
    } catch (err) {
      failed = groupMembershipLost(err) ? { at: now(), err } : undefined;
      throw err;
    }
  };
}

/**
 * How long a handler's membership is kept alive while it runs without beating itself (Kafka's own
 * `max.poll.interval.ms` default). A handler stuck longer than this is left to lose its partitions.
 */
export const HANDLER_KEEPALIVE_LIMIT_MS = 300_000;

/**
 * Runs `work` while a timer beats the group's heartbeat (up to `limitMs`). kafkajs 2.x beats only when
 * the handler asks, so a single awaited statement longer than the session timeout (a decide statement
 * may run 10 s, the default session) would otherwise cost the membership and redeliver the batch. The
 * timer ticks every half interval: kafkajs sends a beat only once `intervalMs` has passed since its last
 * one was answered, so a tick every interval would send one every other time. A failed timer beat is
 * dropped here: `beat` keeps a lost membership, so the handler's own next beat reports it.
 */
export async function keptAlive<T>(
  p: { beat: () => Promise<void>; intervalMs: number; limitMs?: number },
  work: () => Promise<T>,
): Promise<T> {
  const until = Date.now() + (p.limitMs ?? HANDLER_KEEPALIVE_LIMIT_MS);
  const timer = setInterval(() => {
    if (Date.now() > until) clearInterval(timer);
    else p.beat().catch(() => undefined);
  }, p.intervalMs / 2);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * A consumer-group member. `start()` resolves once it has joined its group; `stop()` lets running
 * batches finish, commits what they resolved, and leaves the group. A crash kafkajs does not recover
 * from itself (it stops the consumer for good) is followed by a fresh consumer after a backoff, so the
 * process never stays alive consuming nothing; `ready` is false meanwhile.
 */
export class GroupConsumer {
  private consumer: Consumer | undefined;
  private running = false;
  private joined = false;
  private stopping = false;
  private restarts = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly create: () => Consumer,
    private readonly options: ConsumerCommon,
    private readonly runLoop: (consumer: Consumer) => Promise<void>,
    private readonly committer?: OffsetCommitter,
  ) {}

  /** Whether the member runs and is in its group (false after a crash until it rejoins). */
  get ready(): boolean {
    return this.running && this.joined;
  }

  /** How many times the consumer was recreated after a crash it did not recover from. */
  get restartCount(): number {
    return this.restarts;
  }

  async start(): Promise<void> {
    const consumer = this.create();
    this.consumer = consumer;
    const { options } = this;
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => {
        this.joined = true;
        options.onGroupJoin?.();
        resolve();
      }),
    );
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.joined = false;
      options.onCrash?.(payload.error, payload.restart);
      if (!payload.restart) {
        this.running = false;
        this.scheduleRestart(consumer);
      }
    });
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
    this.running = true;
    await this.runLoop(consumer);
    await joined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    await this.committer?.close();
    await this.consumer?.disconnect();
    this.running = false;
  }

  private scheduleRestart(crashed: Consumer): void {
    if (this.stopping) return;
    const delay = Math.min(30_000, 500 * 2 ** Math.min(this.restarts, 6));
    this.restartTimer = setTimeout(() => {
      this.restarts++;
      void crashed
        .disconnect()
        .catch(() => undefined)
        .then(() => (this.stopping ? undefined : this.start()))
        // A failed start leaves its own consumer behind: that one is disconnected on the next try.
        .catch(() => this.scheduleRestart(this.consumer ?? crashed));
    }, delay);
  }
}

export type ConsumerFactory = (config: ReturnType<typeof groupSettings>) => Consumer;

export function batchConsumer(create: ConsumerFactory, options: BatchConsumerOptions): GroupConsumer {
  return runBatches(create, options, (batch, intervalMs) =>
    keptAlive({ beat: () => batch.heartbeat(), intervalMs }, () => options.handle(batch)),
  );
}

/** A batch consumer whose `handle` keeps its own membership alive (`intervalMs`: the heartbeat interval). */
function runBatches(
  create: ConsumerFactory,
  options: Omit<BatchConsumerOptions, 'handle'>,
  handle: (batch: IncomingBatch & { progressed(): boolean }, intervalMs: number) => Promise<void>,
): GroupConsumer {
  const config = {
    ...groupSettings(options),
    ...(options.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
  };
  const committer = new OffsetCommitter(options.onCommitError);
  const failures = new Map<string, number>();
  const intervalMs = heartbeatIntervalMs(options);
  // kafkajs may rejoin from one broker's fetch while another broker's batch runs: that batch's lag is
  // of an assignment that may be gone (onGroupJoin has just forgotten it), so it is not reported.
  let joins = 0;
  const counted: ConsumerCommon = {
    ...options,
    onGroupJoin: () => {
      joins++;
      options.onGroupJoin?.();
    },
  };
  const run = async (consumer: Consumer) => {
    const ends = await topicEnds(options);
    await consumer.run({
      eachBatchAutoResolve: false,
      autoCommit: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
      eachBatch: async (payload) => {
        const joinsAtStart = joins;
        const batch = incomingBatch(payload, committer, intervalMs);
        await committer.run(() =>
          retriedAfterPause(
            { batch, pause: () => payload.pause(), failures, committer, onError: options.onHandlerError },
            () => handle(batch, intervalMs),
          ),
        );
        if (joins === joinsAtStart)
          options.onBatchEnd?.({ topic: batch.topic, partition: batch.partition, offsetLag: batch.lag() });
      },
    });
    seekTo(consumer, options.topics, ends);
  };
  return new GroupConsumer(() => create(config), counted, run, committer);
}

/**
 * Handles each message of a fetched batch in turn, resolving it once handled: a batch consumer, so a
 * failed handler is retried after a pause of its partition from the message that failed (see
 * `retriedAfterPause`), never thrown to kafkajs, whose retrier crashed a member at its eleventh failure.
 * As kafkajs's own per-message loop did, it beats between messages (a lost membership ends the batch)
 * and keeps each message's handling alive for up to HANDLER_KEEPALIVE_LIMIT_MS.
 */
export function messageConsumer(create: ConsumerFactory, options: MessageConsumerOptions): GroupConsumer {
  const { handle, ...common } = options;
  return runBatches(create, common, (batch, intervalMs) => eachMessageInTurn({ batch, intervalMs }, handle));
}

/** messageConsumer's handling of one fetched batch. */
export async function eachMessageInTurn(
  p: { batch: IncomingBatch; intervalMs: number },
  handle: MessageConsumerOptions['handle'],
): Promise<void> {
  const { batch } = p;
  // A beat that found the membership lost: the handler is told to give its message up, and kafkajs
  // is then told why (it rejoins), since nothing else marks the batch inactive on a rebalance.
  let lost: Error | undefined;
  // A function, not an inline check: TypeScript would keep `lost` narrowed across the awaits that set it.
  const throwIfLost = () => {
    if (lost !== undefined) throw lost;
  };
  const context: MessageContext = {
    topic: batch.topic,
    partition: batch.partition,
    heartbeat: async () => {
      if (lost !== undefined || !batch.isActive()) throw new MessageAbandoned();
      try {
        await batch.heartbeat();
      } catch (err) {
        if (!groupMembershipLost(err)) throw err;
        lost = err instanceof Error ? err : new Error(String(err));
        throw new MessageAbandoned();
      }
    },
  };
  for (const message of batch.messages) {
    throwIfLost(); // a handler that swallowed its MessageAbandoned
    if (!batch.isActive()) break;
    try {
      await keptAlive({ beat: () => batch.heartbeat(), intervalMs: p.intervalMs }, () => handle(message, context));
    } catch (err) {
      if (err instanceof MessageAbandoned) throwIfLost();
      throw err;
    }
    batch.resolveOffset(message.offset);
    batch.commit();
    throwIfLost();
    await batch.heartbeat().catch((err: unknown) => {
      if (groupMembershipLost(err)) throw err;
    });
  }
}

const topicEnds = (options: ConsumerCommon) =>
  options.fromNow ? Promise.all(options.topics.map((t) => options.fromNow!.ends(t))) : Promise.resolve([]);

function seekTo(consumer: Consumer, topics: string[], ends: Array<Array<{ partition: number; high: string }>>): void {
  ends.forEach((partitions, i) => {
    for (const p of partitions) consumer.seek({ topic: topics[i]!, partition: p.partition, offset: p.high });
  });
}

/** The first pause of a partition whose batch failed; it doubles with each failure in a row, up to REDO_MAX_MS. */
export const REDO_FIRST_MS = 250;
export const REDO_MAX_MS = 5_000;

/**
 * Runs a batch's handler; when it fails, pauses the batch's partition (per partition: REDO_FIRST_MS
 * doubling to REDO_MAX_MS) and returns at once. kafkajs fetches the other partitions meanwhile, and
 * this one again from its last resolved offset once resumed (offsets are resolved by the handler
 * only). A failure is not thrown to kafkajs: its retrier stops every partition's fetchers and backs
 * off (to 30 s), and it counts failures for the member's life, not in a row, so the tenth failure
 * ever (a deadlock here, Postgres for a moment there) crashed the consumer and rebalanced its group.
 * Nor does the handler sleep: a broker's fetcher waits for every batch of its fetch, so a sleeping
 * batch held every partition the broker leads, and a rebalance's rejoin. A lost membership is still
 * thrown: kafkajs rejoins the group on it.
 */
export async function retriedAfterPause(
  p: {
    /** `progressed`: whether the handler resolved any of its messages (a failure after progress is a first failure). */
    batch: Pick<IncomingBatch, 'topic' | 'partition'> & { progressed?(): boolean };
    /** Pauses the batch's partition; returns what resumes it (kafkajs's `EachBatchPayload.pause`). */
    pause: () => () => void;
    /** Failures in a row by topic/partition, kept across batches. */
    failures: Map<string, number>;
    committer: Pick<OffsetCommitter, 'isClosing'>;
    onError: BatchConsumerOptions['onHandlerError'];
  },
  handle: () => Promise<void>,
): Promise<void> {
  const key = `${p.batch.topic}/${p.batch.partition}`;
  try {
    await handle();
    p.failures.delete(key);
  } catch (err) {
    if (groupMembershipLost(err)) throw err;
    // Given up because the consumer stops or lost the partition: nothing to retry here.
    if (err instanceof MessageAbandoned) return;
    if (p.batch.progressed?.()) p.failures.delete(key);
    const failures = (p.failures.get(key) ?? 0) + 1;
    p.failures.set(key, failures);
    const retryInMs = Math.min(REDO_MAX_MS, REDO_FIRST_MS * 2 ** (failures - 1));
    p.onError(err, { topic: p.batch.topic, partition: p.batch.partition, failures, retryInMs });
    const resume = p.pause();
    // Resuming a partition revoked meanwhile changes nothing; a closing consumer fetches no more.
    setTimeout(() => p.committer.isClosing || resume(), retryInMs).unref();
  }
}

function incomingBatch(
  payload: EachBatchPayload,
  committer: OffsetCommitter,
  heartbeatMs: number,
): IncomingBatch & { lag(): number; progressed(): boolean } {
  const { batch } = payload;
  const first = BigInt(batch.firstOffset() ?? batch.highWatermark);
  let next = first;
  return {
    topic: batch.topic,
    partition: batch.partition,
    messages: batch.messages,
    isActive: () => payload.isRunning() && !payload.isStale() && !committer.isClosing,
    heartbeat: throttledHeartbeat(() => payload.heartbeat(), heartbeatMs),
    resolveOffset: (offset) => {
      payload.resolveOffset(offset);
      // The batch's last message resolved: whatever follows it in the batch (a transaction marker) is done too.
      const end = offset === batch.messages.at(-1)?.offset ? BigInt(batch.lastOffset()) : BigInt(offset);
      if (end >= next) next = end + 1n;
    },
    commit: () => committer.commit(payload),
    /** Messages from the first one not resolved to the high watermark. */
    lag: () => Math.max(0, Number(BigInt(batch.highWatermark) - next)),
    progressed: () => next > first,
  };
}
