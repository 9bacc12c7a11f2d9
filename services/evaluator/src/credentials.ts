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

/** Registered credentials by key id, cached briefly (the TTL bounds how long a revocation takes). */
export class CredentialStore {
  private readonly cache = new Map<string, { credential: Promise<Credential | undefined>; until: number }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly ttlMs: number,
  ) {}

  /** Concurrent lookups of one key share one query. */
  get(keyId: string): Promise<Credential | undefined> {
    const hit = this.cache.get(keyId);
    if (hit && hit.until > Date.now()) return hit.credential;
    const credential = this.load(keyId);
    if (this.ttlMs > 0) {
      this.cache.set(keyId, { credential, until: Date.now() + this.ttlMs });
      credential.catch(() => this.cache.delete(keyId)); // a failed lookup (database down) is not cached
    }
    return credential;
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
