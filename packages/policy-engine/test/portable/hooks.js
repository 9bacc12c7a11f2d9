// Module hooks for the portable-import test: run TypeScript sources without tsx (so nothing but the
// module graph under test loads modules on the main thread) and record forbidden imports to a file.
import { appendFileSync } from 'node:fs';
import ts from 'typescript';

const FORBIDDEN = new Set(['crypto', 'node:crypto', 'sodium-native']);
let record;

export function initialize(data) {
  record = data.record;
}

export async function resolve(specifier, context, nextResolve) {
  if (FORBIDDEN.has(specifier)) appendFileSync(record, `${JSON.stringify({ specifier, from: context.parentURL })}\n`);
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    // TypeScript sources import './x.js' for './x.ts'.
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !specifier.endsWith('.js')) throw err;
    return nextResolve(specifier.replace(/\.js$/, '.ts'), context);
  }
}

export async function load(url, context, nextLoad) {
  if (!url.endsWith('.ts')) return nextLoad(url, context);
  const { source } = await nextLoad(url, { ...context, format: 'module' });
  const { outputText } = ts.transpileModule(String(source), {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true },
    fileName: new URL(url).pathname,
  });
  return { format: 'module', source: outputText, shortCircuit: true };
}
