// audit_log is partitioned by UTC month; the audit service creates partitions, retention drops them.

/** `audit_log_y2026m11` for events of November 2026 (UTC). */
export function partitionName(month: Date): string {
  return `audit_log_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** The first instant of a UTC month (`Date.UTC` would read years 0–99 as 1900–1999). */
export function utcMonth(year: number, month: number): Date {
  const d = new Date(0);
  d.setUTCFullYear(year, month, 1);
  return d;
}

export function monthStart(t: Date): Date {
  return utcMonth(t.getUTCFullYear(), t.getUTCMonth());
}
