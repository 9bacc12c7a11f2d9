import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { backendIdentity, cancelBackend } from '@stepgate/store';
import { rejection, testNamespace } from '@stepgate/test';
import { ExportAbortedError, exportAudit } from '../src/index.js';

/** exportAudit on real Postgres: a read that waits on the server, a reader who stops reading. */
const ns = testNamespace('audit_export');
const TENANT = 'acme';
const ROWS = 300;

beforeAll(async () => {
  await ns.migrate();
  await ns.pool.query(
    `create table audit_log_export_test partition of audit_log for values from ('2001-01-01') to ('2001-01-02')`,
  );
  // ~1 KB a row: an export of them is written in several pieces.
  await ns.pool.query(
    `insert into audit_log (id, "timestamp", tenant_id, action, inputs_summary, outcome, elapsed_ms,
                            policies_matched, event, seq, prev_hash, row_hash)
     select gen_random_uuid(), '2001-01-01'::timestamptz + g * interval '1 ms', $1, 'StepCompleted', '', 'ok', 0,
            '{}', jsonb_build_object('pad', repeat('x', 1000), 'n', g), g, '', ''
       from generate_series(1, $2::int) g`,
    [TENANT, ROWS],
  );
});
afterAll(() => ns.cleanup());

/** A writable that keeps what it is given. */
function collector(): Writable & { text: () => string } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk);
      done();
    },
  });
  return Object.assign(w, { text: () => Buffer.concat(chunks).toString('utf8') });
}

const waitingOnLock = async () =>
  (
    await ns.pool.query<{ n: number }>(
      `select count(*)::int as n from pg_locks where relation = 'audit_log_export_test'::regclass and not granted`,
    )
  ).rows[0]!.n;

/** Runs fn while another connection holds the partition: every read of it waits on the server. */
async function whileLocked<T>(fn: () => Promise<T>): Promise<T> {
  const holder = await ns.pool.connect();
  try {
    await holder.query('begin');
    await holder.query('lock table audit_log_export_test in access exclusive mode');
    return await fn();
  } finally {
    await holder.query('rollback').catch(() => undefined);
    holder.release();
  }
}

/** A client of the pool that is discarded after the test (as the control plane discards an export's after a failure). */
async function withExportClient<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await ns.pool.connect();
  try {
    return await fn(client);
  } finally {
    client.release(true);
  }
}

describe('an export stopped while its read waits on the server', () => {
  it('has its statement cancelled: it rejects with ExportAbortedError at once, the cursor closed and the connection healthy', async () => {
    await withExportClient(async (client) => {
      const backend = await backendIdentity(client);
      const stop = new AbortController();
      const exporting = whileLocked(async () => {
        const running = exportAudit(client, { tenant: TENANT }, 'jsonl', collector(), {
          signal: stop.signal,
          cancelStatement: () => void cancelBackend(ns.pool, backend),
        });
        await expect.poll(waitingOnLock, { timeout: 10_000 }).toBe(1);
        const stoppedAt = Date.now();
        stop.abort();
        const err = await rejection(running, ExportAbortedError);
        // Still under the lock: the read returned because its statement was cancelled, not because the lock went.
        expect(await waitingOnLock()).toBe(0);
        return { err, took: Date.now() - stoppedAt };
      });
      const { err, took } = await exporting;
      expect([err.code, err.reason]).toEqual(['EXPORT_ABORTED', 'aborted']);
      expect(took).toBeLessThan(4_000);
      // The cursor is closed and nothing of the cancel is left: the same connection exports in full.
      const out = collector();
      expect(await exportAudit(client, { tenant: TENANT }, 'jsonl', out)).toBe(ROWS);
      expect(out.text().split('\n').filter(Boolean)).toHaveLength(ROWS);
    });
  });

  it('the output closing mid-read stops it the same way (reason: output closed)', async () => {
    await withExportClient(async (client) => {
      const backend = await backendIdentity(client);
      const out = collector();
      const err = await whileLocked(async () => {
        const running = exportAudit(client, { tenant: TENANT }, 'csv', out, {
          cancelStatement: () => void cancelBackend(ns.pool, backend),
        });
        await expect.poll(waitingOnLock, { timeout: 10_000 }).toBe(1);
        out.destroy();
        return rejection(running, ExportAbortedError);
      });
      expect(err.reason).toBe('output closed');
      expect((await client.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    });
  });

  it('without a way to cancel, it still rejects (after a grace of seconds), the statement left running for the owner to discard', async () => {
    const client = await ns.pool.connect();
    let discarded = false;
    try {
      await whileLocked(async () => {
        const stop = new AbortController();
        const running = exportAudit(client, { tenant: TENANT }, 'jsonl', collector(), { signal: stop.signal });
        await expect.poll(waitingOnLock, { timeout: 10_000 }).toBe(1);
        stop.abort();
        expect((await rejection(running, ExportAbortedError)).reason).toBe('aborted');
        expect(await waitingOnLock()).toBe(1);
        client.release(true);
        discarded = true;
      });
    } finally {
      if (!discarded) client.release(true);
    }
  });
});

describe('a reader who stops reading', () => {
  it('stops the export after idleTimeoutMs (reason: reader idle); the cursor is closed', async () => {
    await withExportClient(async (client) => {
      // Takes the first piece and never asks for more: backpressure that never drains.
      const stalled = new Writable({ highWaterMark: 1024, write: () => undefined });
      const err = await rejection(
        exportAudit(client, { tenant: TENANT }, 'jsonl', stalled, { idleTimeoutMs: 300 }),
        ExportAbortedError,
      );
      expect(err.reason).toBe('reader idle');
      expect((await client.query<{ one: number }>('select 1 as one')).rows).toEqual([{ one: 1 }]);
    });
  });

  it('a slow reader who keeps taking pieces is not idle, and gets every row in order', async () => {
    await withExportClient(async (client) => {
      const lines: string[] = [];
      const slow = new Writable({
        highWaterMark: 1024,
        write(chunk: Buffer, _enc, done) {
          lines.push(chunk.toString('utf8'));
          setTimeout(done, 100);
        },
      });
      expect(await exportAudit(client, { tenant: TENANT }, 'jsonl', slow, { idleTimeoutMs: 1_000 })).toBe(ROWS);
      // More than one piece (each taking 100 ms), none split inside a row.
      expect(lines.length).toBeGreaterThan(1);
      for (const piece of lines) expect(piece.endsWith('\n')).toBe(true);
      const seqs = lines
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { seq: number }).seq);
      expect(seqs).toEqual(Array.from({ length: ROWS }, (_, i) => i + 1));
    });
  });
});
