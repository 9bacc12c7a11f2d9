import { CliEnvSchema, readSettings } from '@stepgate/runtime';
import { createWriteStream } from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import pg from 'pg';
import {
  applyRetention,
  EXPORT_FORMATS,
  exportAudit,
  planRetention,
  RetentionFloorError,
  verifyChain,
  type ExportFormat,
} from '@stepgate/audit-log';
import { GateInputsRepository } from '@stepgate/store';
import { adminDatabase, adminEnv } from '../admin/connections.js';
import { EXIT, InputError, type Io } from '../io.js';

async function withDb<T>(fn: (db: pg.Client) => Promise<T>): Promise<T> {
  const env = adminEnv();
  const db = new pg.Client(adminDatabase(env));
  await db.connect();
  try {
    return await fn(db);
  } finally {
    await db.end();
  }
}

/** `stepgate audit verify --tenant T`: walks the tenant's hash chain; exit 1 at the first broken link. */
export async function auditVerify(opts: { tenant: string }, io: Io): Promise<number> {
  const report = await withDb((db) => verifyChain(db, opts.tenant));
  if (!report.broken) {
    io.out(
      `audit chain of ${opts.tenant}: intact, ${report.rows} rows${report.first_seq && report.first_seq > 1 ? ` (from seq ${report.first_seq}; older rows dropped by retention)` : ''}\n`,
    );
    return EXIT.ok;
  }
  const b = report.broken;
  io.out(
    `audit chain of ${opts.tenant}: BROKEN at seq ${b.seq}${b.id ? ` (event ${b.id})` : ''}: ${b.problem}: ${b.detail}; ${report.rows} rows verified before it\n`,
  );
  return EXIT.failed;
}

function date(value: string | undefined, flag: string): Date | undefined {
  if (value === undefined) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) throw new InputError(`${flag} "${value}": expected an ISO date or date-time`);
  return d;
}

export interface AuditExportOptions {
  tenant: string;
  format: string;
  from?: string;
  to?: string;
  action?: string;
  workflow?: string;
  out?: string;
}

/** `stepgate audit export`: streams rows to --out or stdout; progress on stderr. */
export async function auditExport(
  opts: AuditExportOptions,
  io: Io,
  stdout: Writable = process.stdout,
): Promise<number> {
  if (!EXPORT_FORMATS.includes(opts.format as ExportFormat))
    throw new InputError(`--format "${opts.format}": expected one of ${EXPORT_FORMATS.join(', ')}`);
  const filter = {
    tenant: opts.tenant,
    ...(opts.from ? { from: date(opts.from, '--from')! } : {}),
    ...(opts.to ? { to: date(opts.to, '--to')! } : {}),
    ...(opts.action ? { action: opts.action } : {}),
    ...(opts.workflow ? { workflow: opts.workflow } : {}),
  };
  const out = opts.out ? createWriteStream(path.resolve(io.cwd, opts.out)) : stdout;
  const rows = await withDb((db) =>
    exportAudit(db, filter, opts.format as ExportFormat, out, {
      onProgress: (n) => io.err(`\rexported ${n} rows…`),
    }),
  );
  if (opts.out)
    await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
  io.err(`\rexported ${rows} rows of ${opts.tenant} as ${opts.format}${opts.out ? ` to ${opts.out}` : ''}\n`);
  return EXIT.ok;
}

/** `stepgate audit retention --days N [--apply]`: dry run unless --apply; never below the floor. */
export async function auditRetention(
  opts: { days: string; apply?: boolean },
  io: Io,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const days = Number(opts.days);
  const floor = readSettings('stepgate', CliEnvSchema, env).STEPGATE_AUDIT_RETENTION_FLOOR_DAYS;
  try {
    return await withDb(async (db) => {
      const plan = await planRetention(db, days, floor);
      // Recorded engine inputs are kept as long as the audit rows: up to the first month kept.
      const cutoff = new Date(plan.cutoff);
      const inputsBefore = new Date(Date.UTC(cutoff.getUTCFullYear(), cutoff.getUTCMonth(), 1));
      if (opts.apply) {
        const deleted = await new GateInputsRepository(db).deleteBefore(inputsBefore);
        io.out(`deleted ${deleted} recorded gate inputs decided before ${inputsBefore.toISOString()}\n`);
      } else io.out(`would delete the recorded gate inputs decided before ${inputsBefore.toISOString()}\n`);
      if (plan.drop.length === 0) {
        io.out(`nothing to drop: no partition lies entirely before ${plan.cutoff}\n`);
        return EXIT.ok;
      }
      for (const p of plan.drop)
        io.out(
          `${opts.apply ? 'dropping' : 'would drop'} ${p.name} (${p.from.slice(0, 10)} – ${p.to.slice(0, 10)}, ${p.rows} rows)\n`,
        );
      if (!opts.apply) {
        io.out('dry run: nothing dropped; add --apply to drop these partitions\n');
        return EXIT.ok;
      }
      await applyRetention(db, plan);
      io.out(
        `dropped ${plan.drop.length} partitions (${plan.drop.reduce((n, p) => n + p.rows, 0)} rows); chain anchors kept for verify\n`,
      );
      return EXIT.ok;
    });
  } catch (err) {
    if (err instanceof RetentionFloorError) throw new InputError(err.message);
    throw err;
  }
}
