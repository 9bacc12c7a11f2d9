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

/** The export stopped before its end: the output closed (the client went away) or its time ran out. */
export class ExportAbortedError extends Error {
  readonly code = 'EXPORT_ABORTED';
  constructor(reason: string) {
    super(`the audit export stopped: ${reason}`);
    this.name = 'ExportAbortedError';
  }
}

export interface ExportOptions {
  onProgress?: (rows: number) => void;
  batchSize?: number;
  /** Stops the export (a time limit, a shutdown); the cursor is closed either way. */
  signal?: AbortSignal;
}

/**
 * Streams a tenant's audit rows, oldest first, through a cursor (never the whole table in memory),
 * honouring the output's backpressure. Returns the number of rows written. Rejects with
 * ExportAbortedError as soon as the output closes or `signal` aborts, so the connection is never held
 * by a reader who left.
 */
export async function exportAudit(
  client: pg.ClientBase,
  filter: ExportFilter,
  format: ExportFormat,
  out: Writable,
  options: ExportOptions = {},
): Promise<number> {
  const { onProgress = () => undefined, batchSize = 1_000, signal } = options;
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

  const stillWanted = () => {
    if (signal?.aborted) throw new ExportAbortedError('aborted');
    if (out.destroyed || out.writableEnded) throw new ExportAbortedError('the output closed');
  };
  const write = async (text: string) => {
    stillWanted();
    if (!out.write(text)) await drained(out, signal);
  };
  let rows = 0;
  let lastProgress = Date.now();
  try {
    if (format === 'csv') await write(stringify([[...CSV_COLUMNS]]));
    for (;;) {
      stillWanted();
      const batch = await cursor.read(batchSize);
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
    await cursor.close();
  }
  onProgress(rows);
  return rows;
}

/** Resolves on 'drain'; rejects when the output closes or errors, or the signal aborts. */
function drained(out: Writable, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const settle = (err?: Error) => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      out.off('error', onClose);
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(err);
      else resolve();
    };
    const onDrain = () => settle();
    const onClose = () => settle(new ExportAbortedError('the output closed'));
    const onAbort = () => settle(new ExportAbortedError('aborted'));
    out.on('drain', onDrain);
    out.on('close', onClose);
    out.on('error', onClose);
    signal?.addEventListener('abort', onAbort);
    if (signal?.aborted) onAbort();
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
