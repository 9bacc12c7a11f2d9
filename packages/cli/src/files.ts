import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { formatPath, validateBundle, type Bundle } from '@stepgate/policy-engine';
import { InputError } from './io.js';

/** Reads a JSON or YAML document (by extension). */
export async function readDocument(file: string, cwd: string): Promise<unknown> {
  const full = path.resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(full, 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return /\.ya?ml$/i.test(file) ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
  } catch (err) {
    throw new InputError(
      `${file}: not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

export function bundleOrThrow(doc: unknown, label: string): Bundle {
  const r = validateBundle(doc);
  if (!r.ok)
    throw new InputError(
      `${label}: invalid policy bundle (${r.issues.length} problem${r.issues.length === 1 ? '' : 's'})`,
      r.issues.map((i) => `${i.path}: ${i.message}`),
    );
  return r.bundle;
}

export function parseOrThrow<S extends z.ZodType>(schema: S, doc: unknown, label: string): z.infer<S> {
  const r = schema.safeParse(doc);
  if (!r.success)
    throw new InputError(
      `${label}: invalid`,
      r.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`),
    );
  return r.data;
}

export function parseInstant(value: string, label: string): number {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms))
    throw new InputError(`${label}: expected an ISO 8601 date-time such as 2026-11-18T10:30:00Z, got "${value}"`);
  return ms;
}
