import { jsonEquals } from './operators.js';

/** One field that differs between two versions: its path inside the item, and both values (undefined: absent). */
export interface FieldChange {
  path: string;
  before: unknown;
  after: unknown;
}

/** An item of a keyed list (a policy by name, a tool by tool_name, a delegation by delegation_id). */
export interface ItemChange {
  key: string;
  change: 'added' | 'removed' | 'changed';
  fields: FieldChange[];
}

export interface BundleDiff {
  /** Fields outside the keyed lists (environment, workflow_access, …). */
  settings: FieldChange[];
  policies: ItemChange[];
  tools: ItemChange[];
  delegations: ItemChange[];
  /** True when nothing differs. */
  same: boolean;
}

const KEYED_LISTS = { policies: 'name', tools: 'tool_name', delegations: 'delegation_id' } as const;
type KeyedList = keyof typeof KEYED_LISTS;

/**
 * What changed from bundle `before` to bundle `after` (stored documents, as applied): policy by
 * policy and field by field. Pure: the CLI and the control plane both serve it.
 */
export function diffBundles(before: unknown, after: unknown): BundleDiff {
  const a = asRecord(before);
  const b = asRecord(after);
  const settings = fieldChanges(omit(a, Object.keys(KEYED_LISTS)), omit(b, Object.keys(KEYED_LISTS)), '');
  const lists = Object.fromEntries(
    (Object.keys(KEYED_LISTS) as KeyedList[]).map((list) => [list, itemChanges(a[list], b[list], KEYED_LISTS[list])]),
  ) as Record<KeyedList, ItemChange[]>;
  const same = settings.length === 0 && Object.values(lists).every((l) => l.length === 0);
  return { settings, ...lists, same };
}

function itemChanges(before: unknown, after: unknown, keyField: string): ItemChange[] {
  const index = (list: unknown) =>
    new Map(
      (Array.isArray(list) ? list : []).map((item, i) => {
        const record = asRecord(item);
        const key = record[keyField];
        return [typeof key === 'string' ? key : `#${i}`, record] as const;
      }),
    );
  const a = index(before);
  const b = index(after);
  const changes: ItemChange[] = [];
  for (const [key, item] of a) {
    const other = b.get(key);
    if (!other) changes.push({ key, change: 'removed', fields: fieldChanges(item, {}, '') });
    else {
      const fields = fieldChanges(item, other, '');
      if (fields.length) changes.push({ key, change: 'changed', fields });
    }
  }
  for (const [key, item] of b)
    if (!a.has(key)) changes.push({ key, change: 'added', fields: fieldChanges({}, item, '') });
  return changes;
}

/** Leaf-level differences of two JSON values; arrays of scalars and differing-length arrays compare whole. */
function fieldChanges(before: unknown, after: unknown, path: string): FieldChange[] {
  if (jsonEquals(before, after)) return [];
  const bothObjects = isPlainObject(before) && isPlainObject(after);
  const sameLengthArrays = Array.isArray(before) && Array.isArray(after) && before.length === after.length;
  if (!bothObjects && !(sameLengthArrays && before.some((x) => typeof x === 'object' && x !== null)))
    return [{ path: path || '(whole)', before, after }];
  const keys = bothObjects
    ? [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()
    : (before as unknown[]).map((_, i) => String(i));
  const child = (k: string) => (bothObjects ? (path ? `${path}.${k}` : k) : `${path}[${k}]`);
  return keys.flatMap((k) =>
    fieldChanges((before as Record<string, unknown>)[k], (after as Record<string, unknown>)[k], child(k)),
  );
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function asRecord(v: unknown): Record<string, unknown> {
  return isPlainObject(v) ? v : {};
}

function omit(record: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => !keys.includes(k)));
}
