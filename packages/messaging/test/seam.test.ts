import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const PRODUCTION_DIRS = ['packages', 'services', 'infra/src', 'scripts', 'examples'];

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return ['node_modules', 'dist', 'test'].includes(entry.name) ? [] : sources(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('the messaging seam', () => {
  it('is the only production code that imports kafkajs', () => {
    const importers = PRODUCTION_DIRS.flatMap((d) => sources(path.join(root, d)))
      .filter((file) => /from 'kafkajs'|require\('kafkajs'\)/.test(readFileSync(file, 'utf8')))
      .map((file) => path.relative(root, file));
    expect(importers.filter((f) => !f.startsWith('packages/messaging/'))).toEqual([]);
    expect(importers.length).toBeGreaterThan(0);
  });

  it("imports kafkajs's values only after the module that replaces two of its internals", () => {
    const dir = path.join(root, 'packages/messaging/src');
    const late = sources(dir)
      .filter((file) => {
        const text = readFileSync(file, 'utf8');
        const value = /^import (?!type )[^;]*from 'kafkajs';/m.exec(text);
        return value !== null && !text.slice(0, value.index).includes("import './kafkajs-fast-paths.js';");
      })
      .map((file) => path.relative(root, file));
    expect(late).toEqual([]);
  });
});
