// health-cli.ts [service...]: exit 0 when every named service (default: all) answers.
import { endpointsFromEnv } from './endpoints.js';
import { checkService, SERVICE_NAMES, type ServiceName } from './health.js';

const asked = process.argv.slice(2);
const unknown = asked.filter((s) => !SERVICE_NAMES.includes(s as ServiceName));
if (unknown.length) {
  console.error(`unknown service(s): ${unknown.join(', ')}; expected ${SERVICE_NAMES.join(', ')}`);
  process.exit(2);
}
const services = (asked.length ? asked : SERVICE_NAMES) as ServiceName[];
const endpoints = endpointsFromEnv();
let failed = false;
for (const service of services) {
  try {
    console.log(`${service}: ${await checkService(service, endpoints)}`);
  } catch (err) {
    failed = true;
    console.error(err instanceof Error ? err.message : String(err));
  }
}
process.exit(failed ? 1 : 0);
