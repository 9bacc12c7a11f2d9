/**
 * Runs the Python client's pytest suite (clients/python/tests) in its virtual environment:
 * clients/python/.venv (clients/python/venv.sh makes it; .ci/run does) or $STEPGATE_PYTHON.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const python = process.env.STEPGATE_PYTHON ?? path.join(root, 'clients/python/.venv/bin/python');

/** Runs the venv's Python with `args`; its exit code and everything it printed. */
async function runPython(
  args: string[],
  options: { cwd: string; env?: Record<string, string>; stdin?: string },
): Promise<{ code: number | null; output: string }> {
  expect(existsSync(python), `no Python venv at ${python}: run bash clients/python/venv.sh`).toBe(true);
  return new Promise((resolve) => {
    const child = spawn(python, args, { cwd: options.cwd, env: { ...process.env, ...options.env } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('close', (exit) => resolve({ code: exit, output }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** Runs pytest with `args` (paths relative to clients/python) and `env` added; fails the test unless it passes. */
export async function runPytest(args: string[], env: Record<string, string>): Promise<void> {
  const { code, output } = await runPython(['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...args], {
    cwd: path.join(root, 'clients/python'),
    env,
  });
  console.log(output.slice(-20_000));
  expect(code, output.slice(-5_000)).toBe(0);
}

/** The policies the Python tests gate against: destructive SQL is blocked, a `deploy` step needs approval. */
export const pythonTestBundle = (tenant: string) => ({
  tenant_id: tenant,
  environment: 'staging',
  workflow_access: { mode: 'open' },
  tools: [{ tool_name: 'sql_query', tool_type: 'function', access: 'read' }],
  policies: [
    {
      name: 'block-dangerous-sql',
      type: 'context_aware',
      category: 'dynamic-security',
      priority: 900,
      conditions: [
        { field: 'context.tool_name', operator: 'equals', value: 'sql_query' },
        { field: 'tool_input.query', operator: 'regex', value: '(?i)\\b(drop|truncate)\\s+table\\b' },
      ],
      actions: [{ type: 'block', config: { reason: 'Destructive SQL is blocked', severity: 'critical' } }],
    },
    {
      name: 'approve-deploys',
      type: 'context_aware',
      category: 'dynamic-compliance',
      priority: 500,
      conditions: [{ field: 'context.step_name', operator: 'equals', value: 'deploy' }],
      actions: [{ type: 'require_approval', config: { reason: 'Deploys need a human', severity: 'high' } }],
    },
  ],
});

/**
 * Produces records with librdkafka (the Python client's confluent-kafka) — what kafkajs cannot send:
 * headers without a value (null), as other Kafka clients may send them.
 */
export async function produceWithPython(
  brokers: string[],
  records: Array<{ topic: string; key: string; value: Buffer; headers: Array<[string, string | null]> }>,
): Promise<void> {
  const script = [
    'import base64, json, sys',
    'from confluent_kafka import Producer',
    "p = Producer({'bootstrap.servers': sys.argv[1]})",
    'for r in json.load(sys.stdin):',
    "    p.produce(r['topic'], key=r['key'], value=base64.b64decode(r['value']),",
    "              headers=[(n, None if v is None else v.encode()) for n, v in r['headers']])",
    'assert p.flush(30) == 0, "not all records were delivered"',
  ].join('\n');
  const { code, output } = await runPython(['-c', script, brokers.join(',')], {
    cwd: root,
    stdin: JSON.stringify(records.map((r) => ({ ...r, value: r.value.toString('base64') }))),
  });
  expect(code, output.slice(-5_000)).toBe(0);
}
