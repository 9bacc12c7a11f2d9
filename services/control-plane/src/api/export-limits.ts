/** An audit export longer than this stops (its connection goes back to the pool). */
export const EXPORT_TIME_LIMIT_MS = 10 * 60_000;
/**
 * An audit export whose reader takes nothing for this long stops: a client that keeps the connection
 * open but stopped reading (backpressure that never drains) holds one of the CONCURRENT_EXPORTS for a
 * minute, not the whole time limit. A reader taking a few kilobytes a second never reaches it.
 */
export const EXPORT_IDLE_LIMIT_MS = 60_000;
/** Audit exports that may run at once in one process (the size of the exports' pool). */
export const CONCURRENT_EXPORTS = 2;
