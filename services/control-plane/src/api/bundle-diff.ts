import { canonicalJson } from '@stepgate/contracts';

/** What changed between two bundles: policies by name, and the other top-level settings by key. */
export function diffBundles(
  from: unknown,
  to: unknown,
): { added: string[]; removed: string[]; changed: string[]; settings_changed: string[] } {
  const a = asRecord(from);
  const b = asRecord(to);
  const pa = policiesByName(a.policies);
  const pb = policiesByName(b.policies);
  const differs = (x: unknown, y: unknown) => canonicalJson(x ?? null) !== canonicalJson(y ?? null);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => k !== 'policies');
  return {
    added: [...pb.keys()].filter((n) => !pa.has(n)).sort(),
    removed: [...pa.keys()].filter((n) => !pb.has(n)).sort(),
    changed: [...pb.keys()].filter((n) => pa.has(n) && differs(pa.get(n), pb.get(n))).sort(),
    settings_changed: keys.filter((k) => differs(a[k], b[k])).sort(),
  };
}

function asRecord(v: unknown): Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function policiesByName(v: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (Array.isArray(v))
    v.forEach((p, i) => {
      const name = asRecord(p).name;
      out.set(typeof name === 'string' ? name : `#${i}`, p);
    });
  return out;
}
