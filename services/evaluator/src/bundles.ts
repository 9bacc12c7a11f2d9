import type pg from 'pg';
import { BundleValidationError, compileBundle, type CompiledBundle } from '@stepgate/policy-engine';
import { PolicyBundlesRepository } from '@stepgate/store';

/** A tenant's newest bundle: compiled, or why it cannot be (its steps are then blocked, fail closed). */
export type LoadedBundle =
  | { version: number; compiled: CompiledBundle; invalid?: undefined }
  | { version: number; compiled?: undefined; invalid: BundleValidationError };

/**
 * Each tenant's newest bundle, compiled once. A change announced on the `policies` topic
 * invalidates the tenant, and the next gate loads the new version: no restart.
 */
export class BundleStore {
  private readonly loaded = new Map<string, Promise<LoadedBundle | undefined>>();

  constructor(private readonly pool: pg.Pool) {}

  get(tenantId: string): Promise<LoadedBundle | undefined> {
    let entry = this.loaded.get(tenantId);
    if (!entry) {
      entry = this.load(tenantId);
      this.loaded.set(tenantId, entry);
      // A failed load (database down) is not cached: the next gate tries again.
      entry.catch(() => this.loaded.delete(tenantId));
    }
    return entry;
  }

  invalidate(tenantId: string): void {
    this.loaded.delete(tenantId);
  }

  private async load(tenantId: string): Promise<LoadedBundle | undefined> {
    const row = await new PolicyBundlesRepository(this.pool).latest(tenantId);
    if (!row) return undefined;
    try {
      return { version: row.version, compiled: compileBundle(row.bundle) };
    } catch (err) {
      // Stored without `stepgate apply` (which validates): kept as invalid until the next change.
      if (err instanceof BundleValidationError) return { version: row.version, invalid: err };
      throw err;
    }
  }
}
