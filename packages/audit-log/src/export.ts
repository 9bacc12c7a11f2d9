import type { Writable } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type pg from 'pg';
import Cursor from 'pg-cursor';
import { CONFIG_CHANGE_ACTIONS, type AuditEvent } from '@stepgate/contracts';

export const EXPORT_FORMATS = ['csv', 'jsonl', 'cef'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportFilter {
  tenant: string;
  from?: Date;
  to?: Date;
  action?: string;
  workflow?: string;
}

export type ExportedRow = AuditEvent & { seq: number; row_hash: string };

export const CSV_COLUMNS = [
  'id',
  'timestamp',
  'tenant_id',
  'agent_id',
  'session_id',
  'user_id',
  'workflow_id',
  'execution_id',
  'step_id',
  'action',
  'inputs_summary',
  'outcome',
  'elapsed_ms',
  'decision_id',
  'decision',
  'policies_matched',
  'error_code',
  'seq',
  'row_hash',
] as const;

/** Why an export stopped before its end. */
export type ExportStopReason = 'output closed' | 'aborted' | 'reader idle';

/**
 * The export stopped before its end: the output closed (the client went away), `signal` aborted (its
 * time ran out, a shutdown) or its reader stopped taking rows.
 */
export class ExportAbortedError extends Error {
  readonly code = 'EXPORT_ABORTED';
  constructor(
    readonly reason: ExportStopReason,
    options?: { cause?: unknown },
  ) {
    super(`the audit export stopped: ${reason}`, options);
    this.name = 'ExportAbortedError';
  }
}

export interface ExportOptions {
  onProgress?: (rows: number) => void;
  batchSize?: number;
  /** Stops the export (a time limit, a shutdown), a read in progress included (see `cancelStatement`). */
  signal?: AbortSignal;
  /**
   * Cancels the statement running on the export's client, from another connection (`cancelBackend`
   * of @stepgate/store). Called when the export stops while a read waits on the server (a lock, a
   * long scan), so the read returns at once instead of when the statement ends. Reports its own
   * failures: it must not throw.
   */
  cancelStatement?: () => void;
  /**
   * The export stops (reason 'reader idle') when its output takes nothing for this long: a reader
   * who keeps the connection open but stopped reading holds the export no longer than this.
   */
  idleTimeoutMs?: number;
}

/**
 * How long a read may still take once the export stopped and its statement was cancelled. Past it the
 * export stops anyway, the statement still running: the cursor is left open and the client must be
 * discarded (which its owner does with any client an export rejected on).
 */
const CANCELLED_READ_GRACE_MS = 5_000;

/**
 * Output is written in pieces of about this many characters (cut after a line feed): the idle timeout
 * counts from the last piece the reader took, so a slow reader makes progress at every piece.
 */
const WRITE_PIECE_CHARS = 64 * 1024;

/**
 * Streams a tenant's audit rows, oldest first, through a cursor (never the whole table in memory),
 * honouring the output's backpressure. Returns the number of rows written. Rejects with
 * ExportAbortedError as soon as the output closes, `signal` aborts or the output idles past
 * `idleTimeoutMs`, a read then in progress included (its statement cancelled through
 * `cancelStatement`), so the connection is never held by a reader who left. After a rejection the
 * client may be mid-statement: its owner must discard it, not reuse it.
 */
export async function exportAudit(
  client: pg.ClientBase,
  filter: ExportFilter,
  format: ExportFormat,
  out: Writable,
  options: ExportOptions = {},
): Promise<number> {
  const { onProgress = () => undefined, batchSize = 1_000, signal, cancelStatement, idleTimeoutMs } = options;
  const where = ['tenant_id = $1'];
  const params: unknown[] = [filter.tenant];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace('?', `$${params.length}`));
  };
  if (filter.from) add('"timestamp" >= ?', filter.from);
  if (filter.to) add('"timestamp" < ?', filter.to);
  if (filter.action) add('action = ?', filter.action);
  if (filter.workflow) add('workflow_id = ?', filter.workflow);
  const cursor = client.query(
    new Cursor<{ event: AuditEvent; seq: string; row_hash: string }>(
      `select event, seq, row_hash from audit_log where ${where.join(' and ')} order by "timestamp", seq`,
      params,
    ),
  );

  // Aborts when the output closes or `signal` aborts: what a read in progress is cut short by.
  const stop = new AbortController();
  const onStop = () => stop.abort();
  out.once('close', onStop);
  out.once('error', onStop);
  signal?.addEventListener('abort', onStop);
  if (signal?.aborted) onStop();
  const stopReason = (): ExportStopReason => (signal?.aborted ? 'aborted' : 'output closed');
  const stillWanted = () => {
    if (signal?.aborted) throw new ExportAbortedError('aborted', { cause: signal.reason });
    if (out.destroyed || out.writableEnded) throw new ExportAbortedError('output closed');
  };
  const write = async (text: string) => {
    for (const piece of pieces(text, WRITE_PIECE_CHARS)) {
      stillWanted();
      if (!out.write(piece)) await drained({ out, signal: stop.signal, stopReason, idleTimeoutMs });
    }
  };
  /** Set when the export stopped with a read still running on the server: the cursor cannot be closed under it. */
  let readStillRunning = false;
  const read = async () => {
    const reading = cursor.read(batchSize);
    if ((await settledOrAborted(reading, stop.signal)) === 'settled') return reading;
    readStillRunning = true;
    cancelStatement?.();
    // The read usually rejects at once (query_canceled). The cursor is then closed in the same tick:
    // pg-cursor's close waits for the next ReadyForQuery, which the error's Sync brings a round trip later.
    readStillRunning = (await settledOrAborted(reading, AbortSignal.timeout(CANCELLED_READ_GRACE_MS))) === 'aborted';
    reading.catch(() => undefined);
    throw new ExportAbortedError(stopReason(), signal?.aborted ? { cause: signal.reason } : undefined);
  };
  let rows = 0;
  let lastProgress = Date.now();
  try {
    if (format === 'csv') await write(stringify([[...CSV_COLUMNS]]));
    for (;;) {
      stillWanted();
      const batch = await read();
      if (batch.length === 0) break;
      const exported = batch.map((r): ExportedRow => ({ ...r.event, seq: Number(r.seq), row_hash: r.row_hash }));
      await write(render(exported, format));
      rows += batch.length;
      if (Date.now() - lastProgress >= 1_000) {
        onProgress(rows);
        lastProgress = Date.now();
      }
    }
  } finally {
    out.off('close', onStop);
    out.off('error', onStop);
    signal?.removeEventListener('abort', onStop);
    if (!readStillRunning) await cursor.close();
  }
  onProgress(rows);
  return rows;
}

/** Whether `p` settles (either way) before `signal` aborts. */
function settledOrAborted(p: Promise<unknown>, signal: AbortSignal): Promise<'settled' | 'aborted'> {
  if (signal.aborted) return Promise.resolve('aborted');
  return new Promise((resolve) => {
    const onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
    const settled = () => {
      signal.removeEventListener('abort', onAbort);
      resolve('settled');
    };
    p.then(settled, settled);
  });
}

/** `text` in pieces of at least `size` characters (the last one shorter), each cut after a line feed. */
function* pieces(text: string, size: number): Generator<string> {
  for (let start = 0; start < text.length;) {
    const lineFeed = text.indexOf('\n', start + size - 1);
    const end = lineFeed === -1 ? text.length : lineFeed + 1;
    yield text.slice(start, end);
    start = end;
  }
}

/**
 * Resolves on 'drain'; rejects when the output closes or errors, `signal` aborts, or no 'drain' comes
 * within `idleTimeoutMs`.
 */
function drained(p: {
  out: Writable;
  signal: AbortSignal;
  stopReason: () => ExportStopReason;
  idleTimeoutMs: number | undefined;
}): Promise<void> {
  const { out, signal } = p;
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      clearTimeout(idle);
      out.off('drain', onDrain);
      signal.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onAbort = () => settle(new ExportAbortedError(p.stopReason()));
    const idle =
      p.idleTimeoutMs === undefined
        ? undefined
        : setTimeout(() => settle(new ExportAbortedError('reader idle')), p.idleTimeoutMs);
    out.on('drain', onDrain);
    signal.addEventListener('abort', onAbort);
    if (signal.aborted) onAbort();
  });
}

function render(rows: ExportedRow[], format: ExportFormat): string {
  switch (format) {
    case 'jsonl':
      return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    case 'csv':
      return stringify(rows.map(csvRow));
    case 'cef':
      return rows.map((r) => `${cefLine(r)}\n`).join('');
  }
}

/** One row's CSV cells, in CSV_COLUMNS order, each text cell defused by `csvCell`. */
export function csvRow(r: ExportedRow): Array<string | number | null> {
  return CSV_COLUMNS.map((c) => {
    const v = c === 'policies_matched' ? r.policies_matched.join(';') : r[c];
    return typeof v === 'string' ? csvCell(v) : v;
  });
}

/** What spreadsheet programs read as the start of a formula (or of a line, for tab and CR). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A text cell a spreadsheet shows as text: one starting with `=`, `+`, `-`, `@`, tab or carriage
 * return gets a leading `'`, so `=HYPERLINK(...)` in a step id is never run when an auditor opens the
 * export (OWASP, CSV injection). Such a cell reads back with the `'`: the JSON lines export is exact.
 */
export function csvCell(v: string): string {
  return FORMULA_START.test(v) ? `'${v}` : v;
}

/** ArcSight CEF: header fields escape `\` and `|`; extension values escape `\`, `=` and line breaks. */
export function cefLine(r: ExportedRow): string {
  const header = (v: string) => v.replace(/\\/g, '\\\\').replace(/\|/g, '\\|');
  const value = (v: string) =>
    v.replace(/\\/g, '\\\\').replace(/=/g, '\\=').replace(/\r/g, '\\r').replace(/\n/g, '\\n');
  const ext: Array<[string, string | number | null]> = [
    ['rt', Date.parse(r.timestamp)],
    ['externalId', r.id],
    ['act', r.outcome],
    ['suser', r.user_id],
    ['cs1Label', 'tenant_id'],
    ['cs1', r.tenant_id],
    ['cs2Label', 'workflow_id'],
    ['cs2', r.workflow_id],
    ['cs3Label', 'step_id'],
    ['cs3', r.step_id],
    ['cs4Label', 'policies_matched'],
    ['cs4', r.policies_matched.join(',')],
    ['cs5Label', 'decision'],
    ['cs5', r.decision],
    ['cs6Label', 'error_code'],
    ['cs6', r.error_code],
    ['cn1Label', 'seq'],
    ['cn1', r.seq],
    ['msg', r.inputs_summary],
  ];
  const extension = ext
    .filter((e): e is [string, string | number] => e[1] !== null && e[1] !== '')
    .map(([k, v]) => `${k}=${value(String(v))}`)
    .join(' ');
  return `CEF:0|stepgate|stepgate|0.1|${header(r.action)}|${header(`${r.action} ${r.outcome}`)}|${severity(r)}|${extension}`;
}

function severity(r: ExportedRow): number {
  if (r.action === 'AuthenticationFailed' || r.action === 'WorkflowAborted') return 8;
  if (r.decision === 'block' || r.action === 'ApprovalRejected' || r.action === 'ApprovalExpired') return 6;
  if (CONFIG_CHANGE_ACTIONS.has(r.action)) return 5;
  return 3;
}
