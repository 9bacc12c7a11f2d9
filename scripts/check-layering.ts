/**
 * Checks the workspace layering (npm run check:layering):
 *   1. every `@stepgate/*` import in a workspace's files is declared in its package.json;
 *   2. only the cross-service tests (`test/`) depend on a service (`services/*`);
 *   3. no dependency cycle, devDependencies included.
 * Exits 1 and says what is wrong, else prints the workspaces in dependency order.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SKIP = new Set(['node_modules', 'dist', 'coverage']);

interface Workspace {
  dir: string;
  name: string;
  deps: Set<string>;
}

const readJson = (file: string) =>
  JSON.parse(readFileSync(file, 'utf8')) as {
    name: string;
    workspaces?: string[];
    dependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };

const workspaces: Workspace[] = (readJson(path.join(ROOT, 'package.json')).workspaces ?? []).map((dir) => {
  const pkg = readJson(path.join(ROOT, dir, 'package.json'));
  const deps = Object.keys({ ...pkg.dependencies, ...pkg.devDependencies }).filter((d) => d.startsWith('@stepgate/'));
  return { dir, name: pkg.name, deps: new Set(deps) };
});
const byName = new Map(workspaces.map((w) => [w.name, w]));
const workspaceDirs = new Set(workspaces.map((w) => w.dir));
const problems: string[] = [];

/** The .ts/.js files of a workspace, not those of a workspace nested in it (test/harness in test). */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory() && !SKIP.has(entry.name) && !workspaceDirs.has(rel)) out.push(...sourceFiles(rel));
    else if (entry.isFile() && /\.(ts|js)$/.test(entry.name)) out.push(rel);
  }
  return out;
}

for (const w of workspaces) {
  for (const file of sourceFiles(w.dir)) {
    for (const [, specifier] of readFileSync(path.join(ROOT, file), 'utf8').matchAll(/from '(@stepgate\/[^/']+)/g)) {
      if (specifier !== w.name && !w.deps.has(specifier!))
        problems.push(`${file} imports ${specifier}, which ${w.dir}/package.json does not declare`);
    }
  }
  for (const dep of w.deps) {
    const target = byName.get(dep);
    if (target?.dir.startsWith('services/') && w.dir !== 'test')
      problems.push(`${w.name} (${w.dir}) depends on the service ${dep}: move what it needs into a package`);
  }
}

// Depth-first search; a dependency met again while still on the path closes a cycle.
const order: string[] = [];
const state = new Map<string, 'visiting' | 'done'>();
function visit(name: string, trail: string[]): void {
  if (state.get(name) === 'done') return;
  if (state.get(name) === 'visiting') {
    problems.push(`dependency cycle: ${[...trail.slice(trail.indexOf(name)), name].join(' -> ')}`);
    return;
  }
  state.set(name, 'visiting');
  for (const dep of byName.get(name)?.deps ?? []) if (byName.has(dep)) visit(dep, [...trail, name]);
  state.set(name, 'done');
  order.push(name);
}
for (const w of workspaces) visit(w.name, []);

if (problems.length) {
  console.error(problems.join('\n'));
  process.exit(1);
}
console.log(`layering ok; dependency order:\n  ${order.join('\n  ')}`);
