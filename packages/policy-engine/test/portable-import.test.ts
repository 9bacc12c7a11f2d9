import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const REGISTER = fileURLToPath(new URL('./portable/register.js', import.meta.url));
const PACKAGE_DIR = fileURLToPath(new URL('..', import.meta.url));

// The engine must run where there is no Node: a browser or an edge worker. Importing it in a fresh
// Node process (sources transpiled by a hook, no tsx) must load neither node:crypto nor a native addon.
describe('importing @stepgate/policy-engine', () => {
  it('loads no node:crypto and no sodium-native', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'stepgate-portable-'));
    const record = path.join(dir, 'imports.jsonl');
    writeFileSync(record, '');
    try {
      const script = [
        "const engine = await import('@stepgate/policy-engine');",
        'const builtins = process.moduleLoadList.filter((m) => /^NativeModule crypto$/.test(m));',
        'console.log(JSON.stringify({ exports: Object.keys(engine), builtins }));',
      ].join('\n');
      const child = spawnSync(
        process.execPath,
        ['--conditions=source', '--import', REGISTER, '--input-type=module', '-e', script],
        { cwd: PACKAGE_DIR, env: { ...process.env, STEPGATE_IMPORT_RECORD: record }, encoding: 'utf8' },
      );
      expect(child.stderr).toBe('');
      expect(child.status).toBe(0);
      const out = JSON.parse(child.stdout) as { exports: string[]; builtins: string[] };
      expect(out.exports).toEqual(expect.arrayContaining(['compileBundle', 'evaluate']));
      const forbidden = readFileSync(record, 'utf8').split('\n').filter(Boolean);
      expect(forbidden).toEqual([]);
      expect(out.builtins).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000); // a fresh Node that loads TypeScript to transpile the sources: seconds, more on a busy host
});
