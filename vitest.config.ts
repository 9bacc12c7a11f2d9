import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { defineConfig } from 'vitest/config';

const root = path.dirname(fileURLToPath(import.meta.url));

// Tests run against each workspace's TypeScript sources (its `source` export), never a stale build.
// Exact matches: a package's root alias must not swallow its subpaths (`@stepgate/contracts/node`).
function workspaceSourceAliases(): Array<{ find: RegExp; replacement: string }> {
  const { workspaces } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
  const aliases: Array<{ find: RegExp; replacement: string }> = [];
  for (const dir of workspaces) {
    const pkg = JSON.parse(readFileSync(path.join(root, dir, 'package.json'), 'utf8')) as {
      name: string;
      exports?: Record<string, { source?: string }>;
    };
    for (const [subpath, target] of Object.entries(pkg.exports ?? {})) {
      const specifier = path.posix.join(pkg.name, subpath).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
      if (target.source)
        aliases.push({ find: new RegExp(`^${specifier}$`), replacement: path.join(root, dir, target.source) });
    }
  }
  return aliases;
}

export default defineConfig({
  resolve: { alias: workspaceSourceAliases() },
  test: {
    env: { KAFKAJS_NO_PARTITIONER_WARNING: '1' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{packages,services}/*/test/**/*.test.ts', 'infra/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/node_modules/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: [
            '{packages,services}/*/test/**/*.int.test.ts',
            'infra/test/**/*.int.test.ts',
            'test/**/*.int.test.ts',
          ],
          exclude: ['**/node_modules/**'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
