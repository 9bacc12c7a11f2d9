/**
 * Temporal's time-skipping test server for workflow tests: timers (expiry, reminders) fire as soon as
 * nothing else is pending, instead of in real time. The server is the Java SDK's, installed from Maven
 * Central by infra/local/temporal-test-server.sh (the SDK's own download cannot be used offline).
 * Imports nothing from vitest, so scripts outside a test run (record-histories.ts) can use it.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import proto from '@temporalio/proto';

const INSTALL_SCRIPT = fileURLToPath(new URL('../../infra/local/temporal-test-server.sh', import.meta.url));

/** Installs the test server if needed (idempotent, locked) and returns the path of its launcher. */
export function temporalTestServerPath(): string {
  return execFileSync('bash', [INSTALL_SCRIPT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/**
 * A time-skipping TestWorkflowEnvironment on a fresh test server, with the given keyword search
 * attributes registered. The SDK gives a starting server 5 s to answer; a JVM on a busy machine may need
 * longer, so a start that timed out is tried again (the SDK kills the server it gave up on).
 */
export async function timeSkippingEnvironment(keywordAttributes: string[] = []): Promise<TestWorkflowEnvironment> {
  const path = temporalTestServerPath();
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    let env: TestWorkflowEnvironment | undefined;
    try {
      env = await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path } },
      });
      if (keywordAttributes.length)
        await env.connection.operatorService.addSearchAttributes({
          namespace: env.namespace ?? 'default',
          searchAttributes: Object.fromEntries(
            keywordAttributes.map((name) => [
              name,
              proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
            ]),
          ),
        });
      return env;
    } catch (err) {
      lastError = err;
      await env?.teardown();
    }
  }
  throw lastError;
}
