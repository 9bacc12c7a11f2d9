import { createHash, createHmac, type KeyObject } from 'node:crypto';
import { canonicalJson, DEFAULT_REDACTED_KEYS } from '@stepgate/contracts';

/** The key of the object a redacted value is recorded as: `{"$redacted": "hmac-sha256:<hex>"}`. */
export const REDACTED_MARKER = '$redacted';

/**
 * Masks what the redaction rules cover before an engine input is recorded: every value under a key
 * whose name contains a redacted fragment (STEPGATE_REDACT_KEYS and the defaults) becomes a keyed
 * hash (HMAC-SHA-256 with a key derived from the evaluator's signing key), so equal values stay
 * comparable while the value itself is not kept. Its path is listed, so replays can flag results
 * that depend on it.
 */
export class InputRedactor {
  private readonly fragments: string[];
  private readonly hashKey: Buffer;

  constructor(p: { redactKeys: readonly string[] | undefined; signingKey: KeyObject }) {
    this.fragments = (p.redactKeys ?? DEFAULT_REDACTED_KEYS).map((k) => k.toLowerCase());
    this.hashKey = createHash('sha256')
      .update('stepgate recorded-input redaction\0')
      .update(p.signingKey.export({ format: 'der', type: 'pkcs8' }))
      .digest();
  }

  redact(value: unknown): { value: unknown; paths: string[] } {
    const paths: string[] = [];
    const walk = (v: unknown, path: string): unknown => {
      if (Array.isArray(v)) return v.map((x, i) => walk(x, `${path}[${i}]`));
      if (typeof v !== 'object' || v === null) return v;
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        const at = path ? `${path}.${k}` : k;
        if (this.fragments.some((f) => k.toLowerCase().includes(f))) {
          paths.push(at);
          out[k] = { [REDACTED_MARKER]: `hmac-sha256:${this.hash(x)}` };
        } else out[k] = walk(x, at);
      }
      return out;
    };
    return { value: walk(value, ''), paths };
  }

  private hash(v: unknown): string {
    return createHmac('sha256', this.hashKey)
      .update(canonicalJson(v ?? null))
      .digest('hex');
  }
}
