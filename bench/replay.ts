/**
 * What-if replay rate: recorded engine inputs read through the replay's cursor and evaluated against
 * a draft bundle (the acme example with one policy more), next to a bare cursor scan of the same rows
 * (the I/O floor). The heap is sampled after each batch: a bounded replay keeps it flat however many
 * rows it reads.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { compileBundle } from '@stepgate/policy-engine';
import { migrate, type Endpoints } from '@stepgate/infra';
import { storeOn } from '@stepgate/store';
import { replayWindow } from '@stepgate/cli';

export interface ReplayBench {
  rows: number;
  replay: { seconds: number; perSecond: number };
  scan: { seconds: number; perSecond: number };
  heapMiB: { before: number; max: number };
  changed: number;
}

const BUNDLE = JSON.parse(readFileSync(new URL('../examples/acme/bundle.json', import.meta.url), 'utf8')) as {
  policies: unknown[];
};

/** n synthetic recorded inputs of tenant acme: LLM calls and tool calls over the example's 3 allowed workflows and 20 agents. */
const SEED = `
  insert into gate_inputs (tenant_id, request_id, decided_at, workflow_id, agent_id, policy_version, policy_sha256, decision, policies_matched, input)
  select 'acme', gen_random_uuid(), now() - make_interval(secs => i), (array['release-pipeline','support-triage','leave-approval-workflow'])[1 + i % 3], 'agent-' || (i % 20), 1, 'bench', 'allow', '{}',
    jsonb_build_object(
      'tenant_id', 'acme', 'now', (extract(epoch from now()) * 1000)::bigint - i * 1000, 'user_roles', '[]'::jsonb, 'usage', '{}'::jsonb,
      'step', jsonb_build_object('workflow_id', (array['release-pipeline','support-triage','leave-approval-workflow'])[1 + i % 3], 'step_id', 's-' || i, 'agent_id', 'agent-' || (i % 20),
        'request_id', gen_random_uuid(), 'requested_at', now(),
        'step_type', case when i % 3 = 0 then 'tool_call' else 'llm_call' end, 'model', case when i % 7 = 0 then 'gpt-4' else 'claude' end,
        'cost_usd', (i % 50) / 10.0,
        'step_input', jsonb_build_object('query', 'select * from t' || (i % 13), 'n', i),
        'tool_context', case when i % 3 = 0 then jsonb_build_object('tool_name', case when i % 2 = 0 then 'web_search' else 'sql_query' end, 'tool_input', jsonb_build_object('q', 'x')) end))
  from generate_series(1, $1) as i`;

export async function benchReplay(endpoints: Endpoints, n: number): Promise<ReplayBench> {
  const id = `bench_${randomBytes(4).toString('hex')}`;
  const pool = new pg.Pool({ connectionString: endpoints.databaseUrl, options: `-c search_path=${id}`, max: 2 });
  const client = await pool.connect();
  try {
    await migrate(client, { schema: id });
    await client.query(SEED, [n]);
    await client.query('analyze gate_inputs');
    const store = storeOn(client);
    const window = { tenantId: 'acme' };

    const scanStart = performance.now();
    let scanned = 0;
    for await (const rows of store.gateInputs.scan(window, 500)) scanned += rows.length;
    const scanSeconds = (performance.now() - scanStart) / 1000;

    const draft = compileBundle({
      ...BUNDLE,
      policies: [
        ...BUNDLE.policies,
        {
          name: 'bench-block-expensive',
          type: 'context_aware',
          category: 'dynamic-cost',
          priority: 950,
          conditions: [{ field: 'context.cost_usd', operator: 'greater_than', value: 4 }],
          actions: [{ type: 'block', config: { reason: 'too expensive' } }],
        },
      ],
    });
    global.gc?.();
    const before = process.memoryUsage().heapUsed;
    let max = before;
    const sample = () => void (max = Math.max(max, process.memoryUsage().heapUsed));
    const timer = setInterval(sample, 20);
    const start = performance.now();
    const report = await replayWindow(store, window, draft, { err: sample });
    const seconds = (performance.now() - start) / 1000;
    clearInterval(timer);
    sample();
    if (scanned !== n || report.decisions !== n)
      throw new Error(`replay bench: read ${scanned}/${report.decisions} of ${n} rows`);
    return {
      rows: n,
      replay: { seconds, perSecond: n / seconds },
      scan: { seconds: scanSeconds, perSecond: n / scanSeconds },
      heapMiB: { before: before / 2 ** 20, max: max / 2 ** 20 },
      changed: report.changed,
    };
  } finally {
    await client.query(`drop schema if exists ${id} cascade`).catch(() => undefined);
    client.release();
    await pool.end();
  }
}
