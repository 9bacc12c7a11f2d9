import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestNamespace } from '@stepgate/test';
import { run, type Io } from '../src/index.js';

/**
 * The CLI pointed at a test namespace (its schema, brokers and topic prefix, through the variables
 * the CLI reads) and run in a temporary directory. Call `setUp` in beforeAll.
 */
export function adminCli(ns: TestNamespace, label: string) {
  const state = { dir: '' };
  return {
    get dir() {
      return state.dir;
    },
    setUp: async (): Promise<void> => {
      await ns.migrate();
      await ns.createTopics();
      state.dir = await mkdtemp(path.join(tmpdir(), `stepgate-${label}-`));
      Object.assign(process.env, {
        DATABASE_URL: ns.endpoints.databaseUrl,
        STEPGATE_DB_SCHEMA: ns.schema,
        KAFKA_BROKERS: ns.endpoints.kafkaBrokers.join(','),
        STEPGATE_TOPIC_PREFIX: ns.topicPrefix,
      });
    },
    cli: async (args: string[]) => {
      let stdout = '';
      let stderr = '';
      const io: Io = { out: (t) => void (stdout += t), err: (t) => void (stderr += t), cwd: state.dir };
      return { code: await run(args, io), stdout, stderr };
    },
  };
}
