import type pg from 'pg';
import { BundleValidationError, compileBundle, type CompiledBundle } from '@stepgate/policy-engine';
import { PolicyBundlesRepository } from '@stepgate/store';

/** A shadow bundle: evaluated beside the active one on every gate, never deciding. */
export interface LoadedShadow {
  sha256: string;
  compiled: CompiledBundle;
}

/** A tenant's newest bundle: compiled, or why it cannot be (its steps are then blocked, fail closed). */
export type LoadedBundle = { version: number; sha256: string; shadow?: LoadedShadow | undefined } & (
  { compiled: CompiledBundle; invalid?: undefined } | { compiled?: undefined; invalid: BundleValidationError }
);

/** How long a loaded bundle is used before the newest version is read again (converges without notices). */
export const BUNDLE_MAX_AGE_MS = 30_000;

/**
 * Each tenant's newest bundle (and shadow bundle, if any), compiled once. A change announced on the
 * `policies` topic invalidates the tenant, and the next gate loads the new version: no restart. A
 * notice that was lost costs at most `maxAgeMs`: after it the newest version is read again (and
 * compiled only if it changed).
 */
export class BundleStore {
  private readonly loaded = new Map<string, { bundle: Promise<LoadedBundle | undefined>; at: number }>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly maxAgeMs = BUNDLE_MAX_AGE_MS,
  ) {}

  get(tenantId: string): Promise<LoadedBundle | undefined> {
    const entry = this.loaded.get(tenantId);
    if (entry && Date.now() - entry.at < this.maxAgeMs) return entry.bundle;
    const bundle = this.load(tenantId, entry?.bundle);
    this.loaded.set(tenantId, { bundle, at: Date.now() });
    // A failed load (database down) is not cached: the next gate tries again.
    bundle.catch(() => this.loaded.delete(tenantId));
    return bundle;
  }

  invalidate(tenantId: string): void {
    this.loaded.delete(tenantId);
  }

  private async load(
    tenantId: string,
    previous: Promise<LoadedBundle | undefined> | undefined,
  ): Promise<LoadedBundle | undefined> {
    const repository = new PolicyBundlesRepository(this.pool);
    const [row, shadowRow] = await Promise.all([repository.latest(tenantId), repository.shadow(tenantId)]);
    if (!row) return undefined;
    const before = await previous?.catch(() => undefined);
    const shadow = shadowRow ? loadShadow(shadowRow, before?.shadow) : undefined;
    if (before?.version === row.version && before.sha256 === row.sha256) return { ...before, shadow };
    try {
      return { version: row.version, sha256: row.sha256, compiled: compileBundle(row.bundle), shadow };
    } catch (err) {
      // Stored without `stepgate apply` (which validates): kept as invalid until the next change.
      if (err instanceof BundleValidationError)
        return { version: row.version, sha256: row.sha256, invalid: err, shadow };
      throw err;
    }
  }
}

/** A shadow that does not compile is ignored (`apply --shadow` validates; nothing decides by it anyway). */
function loadShadow(
  row: { bundle: unknown; sha256: string },
  before: LoadedShadow | undefined,
): LoadedShadow | undefined {
  if (before?.sha256 === row.sha256) return before;
  try {
    return { sha256: row.sha256, compiled: compileBundle(row.bundle) };
  } catch {
    return undefined;
  }
}
