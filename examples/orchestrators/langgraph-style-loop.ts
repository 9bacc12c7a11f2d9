/**
 * A LangGraph-style agent loop governed by stepgate: every node is gated before it runs, completed
 * after, and the loop stops on block. Run against a started stack and evaluator:
 *   node --conditions=source --import tsx examples/orchestrators/langgraph-style-loop.ts key.json
 */
import { readFile } from 'node:fs/promises';
import { GateClient, RefusedLocallyError, type GateStepRequest } from '@stepgate/client';

interface Node {
  name: string;
  gate: Omit<GateStepRequest, 'workflow_id' | 'step_id'>;
  run: () => Promise<unknown>;
}

const nodes: Node[] = [
  {
    name: 'plan',
    gate: { step_type: 'llm_call', model: 'claude-sonnet', provider: 'anthropic' },
    run: async () => 'plan: migrate then deploy',
  },
  {
    name: 'migrate',
    gate: {
      step_type: 'tool_call',
      tool_context: { tool_name: 'sql_query', tool_input: { query: 'ALTER TABLE t ADD c int' } },
    },
    run: async () => 'migrated',
  },
  {
    name: 'deploy',
    gate: { step_type: 'connector_call', step_name: 'deploy_to_production', step_input: { environment: 'production' } },
    run: async () => 'deployed',
  },
];

const cred = JSON.parse(await readFile(process.argv[2] ?? 'key.json', 'utf8')) as {
  key_id: string;
  private_key_pem: string;
};
const client = new GateClient({
  brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
  keyId: cred.key_id,
  privateKeyPem: cred.private_key_pem,
  // The evaluator's published receipt keys (npm run dev serves them here), pinned at connect().
  receiptKeysUrl: process.env.STEPGATE_RECEIPT_KEYS_URL ?? 'http://127.0.0.1:9464/receipt-keys',
});
await client.connect();
const workflowId = 'release-pipeline';
try {
  for (const node of nodes) {
    // A pending approval is followed until a human decides (or the approval expires).
    const decision = await client.gate(
      { ...node.gate, workflow_id: workflowId, step_id: `${node.name}-1` },
      { waitForApproval: true, timeoutMs: 3_600_000 },
    );
    console.log(`${node.name}: ${decision.decision} — ${decision.reason}`);
    if (decision.decision !== 'allow') break;
    const output = await node.run();
    const completed = { workflow_id: workflowId, step_id: `${node.name}-1` };
    await client.complete({ ...completed, output }).catch(async (err: unknown) => {
      // Over 256 KiB: the evaluator keeps only whether there was an output and a bounded summary of it.
      if (!(err instanceof RefusedLocallyError)) throw err;
      await client.complete({ ...completed, output: { truncated: true, summary: String(output).slice(0, 1_000) } });
    });
  }
} finally {
  await client.disconnect();
}
