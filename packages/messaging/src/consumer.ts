import type { Consumer, EachBatchPayload } from 'kafkajs';
import { OffsetCommitter } from './committer.js';
import type { IncomingMessage } from './messages.js';

/** One fetched batch of one partition, handed to a batch handler. */
export interface IncomingBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** Whether the consumer still owns this partition and runs: when false, stop and leave the rest. */
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
  /** Called on every join of the group (start, rebalance, rejoin after a lost session). */
  onGroupJoin?: () => void;
  /** Called when the consumer crashes (kafkajs restarts it when the error is retriable). */
  onCrash?: (error: Error, restarting: boolean) => void;
}

export interface BatchConsumerOptions extends ConsumerCommon {
  /** Partitions processed at once (order holds within each partition). */
  partitionsConcurrently?: number;
  maxBytesPerPartition?: number;
  maxBytes?: number;
  /** After each batch: the partition's lag behind its high watermark. */
  onBatchEnd?: (lag: { topic: string; partition: number; offsetLag: number }) => void;
  handle: (batch: IncomingBatch) => Promise<void>;
  onCommitError: (err: unknown) => void;
}

/** Where a message came from, and a way to keep the membership while its handling waits. */
export interface MessageContext {
  topic: string;
  partition: number;
  heartbeat(): Promise<void>;
}

export interface MessageConsumerOptions extends ConsumerCommon {
  handle: (message: IncomingMessage, context: MessageContext) => Promise<void>;
  /** Start each partition at its end as of `start()`, whatever the group committed (a reader of the present). */
  fromNow?: { ends: (topic: string) => Promise<Array<{ partition: number; high: string }>> };
}

function groupSettings(options: ConsumerCommon) {
  return {
    groupId: options.groupId,
    maxWaitTimeInMs: options.maxWaitTimeInMs ?? 50,
    ...(options.sessionTimeoutMs !== undefined
      ? {
          sessionTimeout: options.sessionTimeoutMs,
          heartbeatInterval: Math.max(500, Math.floor(options.sessionTimeoutMs / 5)),
        }
      : {}),
    retry: { retries: 10 },
  };
}

/**
 * A consumer-group member. `start()` resolves once it has joined its group; `stop()` lets running
 * batches finish, commits what they resolved, and leaves the group.
 */
export class GroupConsumer {
  private running = false;
  private joined = false;

  constructor(
    private readonly consumer: Consumer,
    private readonly options: ConsumerCommon,
    private readonly runLoop: () => Promise<void>,
    private readonly committer?: OffsetCommitter,
  ) {}

  /** Whether the member runs and is in its group (false after a crash until it rejoins). */
  get ready(): boolean {
    return this.running && this.joined;
  }

  async start(): Promise<void> {
    const { consumer, options } = this;
    const joined = new Promise<void>((resolve) =>
      consumer.on(consumer.events.GROUP_JOIN, () => {
        this.joined = true;
        options.onGroupJoin?.();
        resolve();
      }),
    );
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      this.joined = false;
      if (!payload.restart) this.running = false;
      options.onCrash?.(payload.error, payload.restart);
    });
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? true });
    this.running = true;
    await this.runLoop();
    await joined;
  }

  async stop(): Promise<void> {
    await this.committer?.close();
    await this.consumer.disconnect();
    this.running = false;
  }
}

export type ConsumerFactory = (config: ReturnType<typeof groupSettings>) => Consumer;

export function batchConsumer(create: ConsumerFactory, options: BatchConsumerOptions): GroupConsumer {
  const consumer = create({
    ...groupSettings(options),
    ...(options.maxBytesPerPartition !== undefined ? { maxBytesPerPartition: options.maxBytesPerPartition } : {}),
    ...(options.maxBytes !== undefined ? { maxBytes: options.maxBytes } : {}),
  });
  const committer = new OffsetCommitter(options.onCommitError);
  const onBatchEnd = options.onBatchEnd;
  if (onBatchEnd)
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) =>
      onBatchEnd({ topic: payload.topic, partition: payload.partition, offsetLag: Number(payload.offsetLag) }),
    );
  const run = () =>
    consumer.run({
      eachBatchAutoResolve: false,
      autoCommit: false,
      partitionsConsumedConcurrently: options.partitionsConcurrently ?? 1,
      eachBatch: (payload) => committer.run(() => options.handle(incomingBatch(payload, committer))),
    });
  return new GroupConsumer(consumer, options, run, committer);
}

export function messageConsumer(create: ConsumerFactory, options: MessageConsumerOptions): GroupConsumer {
  const consumer = create(groupSettings(options));
  const run = async () => {
    const ends = options.fromNow ? await Promise.all(options.topics.map((t) => options.fromNow!.ends(t))) : [];
    await consumer.run({
      eachMessage: (payload) =>
        options.handle(payload.message, {
          topic: payload.topic,
          partition: payload.partition,
          heartbeat: () => payload.heartbeat(),
        }),
    });
    ends.forEach((partitions, i) => {
      for (const p of partitions) consumer.seek({ topic: options.topics[i]!, partition: p.partition, offset: p.high });
    });
  };
  return new GroupConsumer(consumer, options, run);
}

function incomingBatch(payload: EachBatchPayload, committer: OffsetCommitter): IncomingBatch {
  const { batch } = payload;
  return {
    topic: batch.topic,
    partition: batch.partition,
    messages: batch.messages,
    isActive: () => payload.isRunning() && !payload.isStale(),
    heartbeat: () => payload.heartbeat(),
    resolveOffset: (offset) => payload.resolveOffset(offset),
    commit: () => committer.commit(payload),
  };
}
