import { AuditEnvSchema, readSettings, serviceEnv, type ServiceEnv } from '@stepgate/runtime';
import type { Threshold, WindowedRule } from './alert-rules.js';
import { housekeepingFromEnv, type HousekeepingSettings } from './housekeeping.js';

/** Measured here (`npm run bench -- audit-ingest`): 1,000 and 4,000 were slower. */
export const DEFAULT_WRITE_SLICE = 2_000;

/**
 * A slice that keeps failing while Postgres answers, but not by refusing its data (a read-only node, a
 * full disk), is redone this long: a failover or an operator's fix usually lands within it. Past it,
 * an error no class names as the data's (one event meeting a bug, say) must not hold the partition for
 * ever: the slice is split down to what fails, which goes to the dlq when the rest of the slice is
 * written (else the slice is held).
 */
export const DEFAULT_REDO_SLICE_FOR_MS = 5 * 60_000;

/** Worker threads that prepare slices (parse, check, canonicalise, encode); 0: on the event loop. */
export const DEFAULT_PREPARE_THREADS = 1;

export interface AuditConfig extends ServiceEnv {
  partitionsConcurrently: number;
  /** Events per write transaction (a fetched batch is written in slices of this size). */
  writeSlice?: number;
  /** Threads preparing slices (default DEFAULT_PREPARE_THREADS; 0: on the event loop). */
  prepareThreads?: number;
  /**
   * How long a slice failing for Postgres's reasons, not its events', is redone before its events are
   * taken to be at fault after all (default DEFAULT_REDO_SLICE_FOR_MS).
   */
  redoSliceForMs?: number;
  /** The alerts consumer's group (it reads the audit stream on its own). */
  alertsGroupId: string;
  /** Default alert thresholds; tenants override them in `alert_thresholds`. */
  alertDefaults?: Partial<Record<WindowedRule, Threshold>>;
  /** The outbox relay and ledger retention (defaults: housekeepingFromEnv). */
  housekeeping?: Partial<HousekeepingSettings>;
}

export function configFromEnv(env: NodeJS.ProcessEnv = process.env): AuditConfig {
  const e = readSettings('audit', AuditEnvSchema, env);
  const base = serviceEnv('audit', e);
  return {
    ...base,
    partitionsConcurrently: e.STEPGATE_PARTITIONS_CONCURRENTLY,
    writeSlice: e.STEPGATE_AUDIT_WRITE_SLICE,
    prepareThreads: e.STEPGATE_AUDIT_PREPARE_THREADS,
    alertsGroupId: e.STEPGATE_ALERTS_GROUP ?? `${base.groupId}-alerts`,
    housekeeping: housekeepingFromEnv(e),
  };
}
