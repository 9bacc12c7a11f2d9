/** An audit export longer than this stops (its connection goes back to the pool). */
export const EXPORT_TIME_LIMIT_MS = 10 * 60_000;
/** Audit exports that may run at once in one process (the size of the exports' pool). */
export const CONCURRENT_EXPORTS = 2;
