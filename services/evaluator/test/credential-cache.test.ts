import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { CredentialStore } from '../src/credentials.js';

/** A pool that answers every credential lookup with "no such key" and counts the lookups. */
function emptyCredentials() {
  const calls: string[] = [];
  const pool = {
    query: async (_text: string, values: string[]) => {
      calls.push(values[0]!);
      return { rows: [] };
    },
  } as unknown as pg.Pool;
  return { pool, calls };
}

describe('credential cache', () => {
  it('stays within its bound however many unknown key ids arrive, dropping the least recently used', async () => {
    const { pool, calls } = emptyCredentials();
    const store = new CredentialStore(pool, 60_000, 100);
    await store.get('kept');
    for (let i = 0; i < 1_000; i++) {
      await store.get(`attacker-${i}`);
      if (i % 50 === 0) await store.get('kept'); // used now and then: stays cached
    }
    expect(store.size).toBe(100);
    const before = calls.length;
    await store.get('kept');
    expect(calls.length).toBe(before);
    await store.get('attacker-0');
    expect(calls.length).toBe(before + 1);
  });
});
