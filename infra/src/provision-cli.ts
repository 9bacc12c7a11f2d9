import { endpointsFromEnv } from './endpoints.js';
import { provision } from './provision.js';

const { migrations, createdTopics } = await provision(endpointsFromEnv(), process.env.STEPGATE_TOPIC_PREFIX);
console.error(
  `[infra] migrations: ${migrations.applied.length} applied, ${migrations.alreadyApplied.length} already there; ` +
    `topics: ${createdTopics.length ? `created ${createdTopics.join(', ')}` : 'all present'}`,
);
