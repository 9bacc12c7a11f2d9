// migrate-cli.ts [--schema NAME]: apply infra/migrations to DATABASE_URL.
import { parseArgs } from 'node:util';
import { endpointsFromEnv } from './endpoints.js';
import { migrateDatabase } from './provision.js';

const { values } = parseArgs({ options: { schema: { type: 'string' } } });
const result = await migrateDatabase(endpointsFromEnv().databaseUrl, values.schema);
console.log(
  `schema ${result.schema}: applied [${result.applied.join(', ')}], already applied [${result.alreadyApplied.join(', ')}]`,
);
