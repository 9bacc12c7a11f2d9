// secure-provision-cli.ts [grant-orchestrator --tenant T --user U]: run with the secure broker's admin
// settings (`bash infra/local/stack.sh env-secure admin`). Without arguments: the topics, the services'
// ACLs and the demo orchestrator's (tenant `demo`, user `orchestrator-demo`), idempotently.
import { parseArgs } from 'node:util';
import { KafkaConnection } from '@stepgate/messaging';
import { endpointsFromEnv } from './endpoints.js';
import { grantOrchestrator, serviceAcls } from './secure-kafka.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { tenant: { type: 'string' }, user: { type: 'string' } },
});
const endpoints = endpointsFromEnv();
const topicPrefix = process.env.STEPGATE_TOPIC_PREFIX ?? 'stepgate.';
const kafka = new KafkaConnection({
  clientId: 'stepgate-secure-provision',
  brokers: endpoints.kafkaBrokers,
  ...endpoints.kafkaSecurity,
});

await kafka.withAdmin(async (admin) => {
  if (positionals[0] === 'grant-orchestrator') {
    if (!values.tenant || !values.user) throw new Error('usage: grant-orchestrator --tenant T --user U');
    await grantOrchestrator(admin, { tenantId: values.tenant, user: values.user, topicPrefix });
    console.error(`[infra] ${values.user} may gate for tenant ${values.tenant} and read its decisions`);
    return;
  }
  const created = await admin.ensureTopics({ prefix: topicPrefix });
  await admin.grant(serviceAcls({ topicPrefix }));
  await grantOrchestrator(admin, { tenantId: 'demo', user: 'orchestrator-demo', topicPrefix });
  console.error(
    `[infra] secure broker: ${created.length ? `created ${created.length} topics` : 'topics present'}; service and demo ACLs applied`,
  );
});
