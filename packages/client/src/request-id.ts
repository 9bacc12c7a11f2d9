import { v7 as uuidv7 } from 'uuid';

/**
 * A new request id: a UUIDv7 (RFC 9562), time-ordered, so the ledger's indexes on request ids
 * (gate_decisions, gate_inputs) grow at their right edge. A random id lands on a random index page
 * every time, and the first change of a page after each checkpoint writes the whole page to the WAL
 * (measured: 100,000 inserts into a 2-million-row index, 12,939 full-page images and 912 B of WAL
 * per row with random ids, 4 and 162 B with UUIDv7).
 */
export function newRequestId(): string {
  return uuidv7();
}
