// A bare kafkajs consume→produce relay in a process of its own, the floor the evaluator's CPU per gate
// is compared with. RELAY_BROKERS, RELAY_GROUP, RELAY_FROM, RELAY_TO; prints "relay running" once it
// has joined its group. With RELAY_ALSO_TO and RELAY_TABLE it is the durable relay instead: what the
// rule "a decision is published only after its ledger rows commit" costs with no stepgate code at all
// (see startDurableRelay).
import { Kafka, logLevel } from 'kafkajs';
import { endpointsFromEnv } from '@stepgate/infra';
import { benchDb } from './transport.js';
import { startEcho } from './kafka-roundtrip.js';
import { startDurableRelay } from './durable-relay.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`relay-process: ${name} is required`);
  return v;
};

const kafka = new Kafka({ clientId: 'bench-relay', brokers: env('RELAY_BROKERS').split(','), logLevel: logLevel.WARN });
const [group, from, to] = [env('RELAY_GROUP'), env('RELAY_FROM'), env('RELAY_TO')];
const relay = process.env.RELAY_TABLE
  ? await startDurableRelay({
      kafka,
      groupId: group,
      from,
      to: [to, env('RELAY_ALSO_TO')],
      db: () => benchDb(endpointsFromEnv()),
      table: env('RELAY_TABLE'),
    })
  : await startEcho(kafka, group, from, to);
console.log('relay running');
process.once('SIGTERM', () => void relay.stop().then(() => process.exit(0)));
