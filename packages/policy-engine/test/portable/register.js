// Preloaded (--import) by the portable-import test: records forbidden ESM imports (hooks.js) and
// forbidden CommonJS requires (sodium-native is loaded through createRequire) to the file named by
// STEPGATE_IMPORT_RECORD.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';

const FORBIDDEN = new Set(['crypto', 'node:crypto', 'sodium-native']);
const record = process.env.STEPGATE_IMPORT_RECORD;
if (!record) throw new Error('STEPGATE_IMPORT_RECORD is not set');

register('./hooks.js', import.meta.url, { data: { record } });

const load = Module._load;
Module._load = function (request, parent, isMain) {
  if (FORBIDDEN.has(request))
    appendFileSync(record, `${JSON.stringify({ specifier: request, from: parent?.filename ?? null })}\n`);
  return load.call(this, request, parent, isMain);
};
