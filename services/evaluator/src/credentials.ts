import type { KeyObject } from 'node:crypto';
import type pg from 'pg';
import { publicKeyFromPem } from '@stepgate/contracts/node';
import { CredentialsRepository } from '@stepgate/store';

export interface Credential {
  keyId: string;
  tenantId: string;
  principal: string;
  publicKey: KeyObject;
  revoked: boolean;
}

interface Entry {
  credential: Promise<Credential | undefined>;
  until: number;
  /** Known once the lookup resolved, so a tenant's notice can drop its keys. */
  tenantId?: string;
}

/** How many key ids are cached at most: lookups of unknown ids cannot grow the cache without bound. */
export const CREDENTIAL_CACHE_ENTRIES = 10_000;

/**
 * Registered credentials by key id, cached briefly and bounded (least recently used first out). A
 * tenant notice on `policies` (a revocation among them) drops the tenant's keys at once; the TTL only
 * bounds a revocation whose notice was lost.
 */
export class CredentialStore {
  private readonly cache = new Map<string, Entry>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly ttlMs: number,
    private readonly maxEntries = CREDENTIAL_CACHE_ENTRIES,
  ) {}

  /** Concurrent lookups of one key share one query. Callers check the key id's format first. */
  get(keyId: string): Promise<Credential | undefined> {
    const hit = this.cache.get(keyId);
    if (hit && hit.until > Date.now()) {
      this.cache.delete(keyId); // most recently used goes last
      this.cache.set(keyId, hit);
      return hit.credential;
    }
    const credential = this.load(keyId);
    if (this.ttlMs > 0) {
      const entry: Entry = { credential, until: Date.now() + this.ttlMs };
      this.cache.delete(keyId);
      this.cache.set(keyId, entry);
      while (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
      credential.then(
        (c) => (entry.tenantId = c?.tenantId),
        () => this.cache.delete(keyId), // a failed lookup (database down) is not cached
      );
    }
    return credential;
  }

  /** Drops the cached keys of a tenant (and every unresolved lookup): the next use reads them again. */
  evictTenant(tenantId: string): void {
    for (const [keyId, entry] of this.cache)
      if (entry.tenantId === tenantId || entry.tenantId === undefined) this.cache.delete(keyId);
  }

  get size(): number {
    return this.cache.size;
  }

  private async load(keyId: string): Promise<Credential | undefined> {
    const row = await new CredentialsRepository(this.pool).byKeyId(keyId);
    return (
      row && {
        keyId,
        tenantId: row.tenantId,
        principal: row.principal,
        publicKey: publicKeyFromPem(row.publicKeyPem),
        revoked: row.revokedAt !== null,
      }
    );
  }
}
