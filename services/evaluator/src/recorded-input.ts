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

  /**
   * The value with what the rules cover masked. Parts with nothing to mask are the input's own
   * objects, not copies (the result is only serialized, never changed).
   */
  redact(value: unknown): { value: unknown; paths: string[] } {
    const paths: string[] = [];
    const walk = (v: unknown, path: string): unknown => {
      if (typeof v !== 'object' || v === null) return v;
      if (Array.isArray(v)) {
        const items = v.map((x, i) => walk(x, `${path}[${i}]`));
        return items.every((x, i) => x === v[i]) ? v : items;
      }
      let out: Record<string, unknown> | undefined;
      for (const [k, x] of Object.entries(v)) {
        const at = path ? `${path}.${k}` : k;
        let masked: unknown;
        if (this.redacted(k)) {
          paths.push(at);
          masked = { [REDACTED_MARKER]: `hmac-sha256:${this.hash(x)}` };
        } else masked = walk(x, at);
        // defineProperty: a "__proto__" key (JSON.parse makes it an own key) stays a key when assigned.
        if (masked !== x)
          Object.defineProperty((out ??= { ...v }), k, { value: masked, enumerable: true, writable: true });
      }
      return out ?? v;
    };
    return { value: walk(value, ''), paths };
  }

  private readonly verdicts = new Map<string, boolean>();

  /** Whether a key's name contains a redacted fragment; remembered for the names seen most. */
  private redacted(key: string): boolean {
    let verdict = this.verdicts.get(key);
    if (verdict === undefined) {
      verdict = this.fragments.some((f) => key.toLowerCase().includes(f));
      if (this.verdicts.size < 10_000) this.verdicts.set(key, verdict);
    }
    return verdict;
  }

  private hash(v: unknown): string {
    return createHmac('sha256', this.hashKey)
      .update(canonicalJson(v ?? null))
      .digest('hex');
  }
}
