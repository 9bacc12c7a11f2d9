import type pg from 'pg';
import { TOPIC_NAMES, type TopicName } from '@stepgate/contracts';
import { withTransaction, type Db } from './db.js';
import { UnknownOutboxTopicError } from './errors.js';

/** A message to write to the outbox: the contract's topic name; the value is JSON-encoded unless a string. */
export interface OutboxEntry {
  topic: TopicName;
  key: string | null;
  value: unknown;
  headers?: Record<string, string>;
}

/** A message as the relay hands it to the publish function: `topic` is the physical topic name. */
export interface RelayedMessage {
  topic: string;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * Publishes messages in the given order and resolves once the broker acknowledged every one of them
 * (acks from all in-sync replicas); rejects otherwise. The messaging module provides it.
 */
export type PublishMessages = (messages: RelayedMessage[]) => Promise<void>;

/** The outbox table: written in the transaction of the change it announces, drained by OutboxRelay. */
export class OutboxRepository {
  constructor(private readonly db: Db) {}

  /** Appends messages (in order) in the caller's transaction. */
  async enqueue(entries: readonly OutboxEntry[]): Promise<void> {
    if (entries.length === 0) return;
    // Ids (and so the relay's order) follow the order of `entries`.
    await this.db.query(
      `insert into outbox (topic, key, value, headers)
       select topic, key, value, headers from unnest($1::text[], $2::text[], $3::text[], $4::jsonb[])
         with ordinality as x(topic, key, value, headers, n)
       order by n`,
      [
        entries.map((e) => e.topic),
        entries.map((e) => e.key),
        entries.map((e) => (typeof e.value === 'string' ? e.value : JSON.stringify(e.value))),
        entries.map((e) => JSON.stringify(e.headers ?? {})),
      ],
    );
  }

  async unsentCount(): Promise<number> {
    const { rows } = await this.db.query<{ n: number }>('select count(*)::int as n from outbox where sent_at is null');
    return rows[0]!.n;
  }

  /** Deletes rows sent before `sentBefore` (unsent rows are never deleted). Returns the number deleted. */
  async pruneSent(p: { sentBefore: Date }): Promise<number> {
    const { rowCount } = await this.db.query('delete from outbox where sent_at < $1', [p.sentBefore]);
    return rowCount ?? 0;
  }
}

export interface OutboxRelayOptions {
  pool: pg.Pool;
  /** Physical topic names by contract name (`topicsFor(prefix)`). */
  topics: Record<TopicName, string>;
  publish: PublishMessages;
  /** Rows claimed per round. Default 500. */
  batchSize?: number;
}

interface OutboxRow {
  id: string;
  topic: string;
  key: string | null;
  value: string;
  headers: Record<string, string>;
}

/**
 * Publishes unsent outbox rows and marks them sent. One round is one transaction: claim the oldest
 * unsent rows (`for update skip locked`, so relays in several processes never take the same row),
 * publish them in id order, mark them sent, commit. Order holds per (topic, key) across relays: a
 * claimed row with an older unsent row of the same topic and key that this round did not claim
 * (another relay holds it) waits for a later round.
 *
 * Delivery is at least once: rows are marked sent only after the broker acknowledged them, so a crash
 * (or a lost connection to Postgres) between the acknowledgement and the commit publishes them again.
 * Consumers dedup by event id (the audit log by `id`, the evaluator's bundle reload is idempotent).
 */
export class OutboxRelay {
  private readonly batchSize: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly options: OutboxRelayOptions) {
    this.batchSize = options.batchSize ?? 500;
  }

  /** One round; returns the number of rows published. */
  async relayOnce(): Promise<number> {
    return withTransaction(this.options.pool, async (client) => {
      const { rows } = await client.query<OutboxRow>({
        name: 'stepgate-outbox-claim',
        text: `select id::text, topic, key, value, headers from outbox where sent_at is null
               order by outbox.id limit $1 for update skip locked`,
        values: [this.batchSize],
      });
      const ready = rows.length ? await this.inOrder(client, rows) : [];
      if (ready.length) {
        await this.options.publish(ready.map((r) => this.message(r)));
        await client.query('update outbox set sent_at = now() where id = any($1::bigint[])', [ready.map((r) => r.id)]);
      }
      return ready.length;
    });
  }

  /** Rounds until nothing is left to publish (or maxRounds). Returns the number of rows published. */
  async drain(maxRounds = Infinity): Promise<number> {
    let total = 0;
    for (let round = 0; round < maxRounds; round++) {
      const n = await this.relayOnce();
      total += n;
      if (n === 0) break;
    }
    return total;
  }

  /** Drains every intervalMs until stop(); a failed round (broker or database down) is reported and retried. */
  start(intervalMs: number, onError: (err: unknown) => void): void {
    const tick = () => {
      this.running = this.drain()
        .catch(onError)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, intervalMs);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** The claimed rows minus those with an older unsent row of the same topic and key outside the claim. */
  private async inOrder(client: pg.ClientBase, rows: OutboxRow[]): Promise<OutboxRow[]> {
    const { rows: blocked } = await client.query<{ topic: string; key: string | null; first: string }>(
      `select topic, key, min(id)::text as first from outbox
       where sent_at is null and id < $1::bigint and not (id = any($2::bigint[]))
         and (topic, coalesce(key, '')) in (select * from unnest($3::text[], $4::text[]))
       group by topic, key`,
      [rows.at(-1)!.id, rows.map((r) => r.id), rows.map((r) => r.topic), rows.map((r) => r.key ?? '')],
    );
    if (blocked.length === 0) return rows;
    const firstBlocked = new Map(blocked.map((b) => [`${b.topic}\u0000${b.key ?? ''}`, BigInt(b.first)]));
    return rows.filter((r) => {
      const first = firstBlocked.get(`${r.topic}\u0000${r.key ?? ''}`);
      return first === undefined || BigInt(r.id) < first;
    });
  }

  private message(r: OutboxRow): RelayedMessage {
    if (!(TOPIC_NAMES as readonly string[]).includes(r.topic)) throw new UnknownOutboxTopicError(r.id, r.topic);
    return { topic: this.options.topics[r.topic as TopicName], key: r.key, value: r.value, headers: r.headers };
  }
}
