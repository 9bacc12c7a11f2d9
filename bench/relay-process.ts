// A bare kafkajs consume→produce relay in a process of its own, the floor the evaluator's CPU per gate
// is compared with. RELAY_BROKERS, RELAY_GROUP, RELAY_FROM, RELAY_TO; prints "relay running" once it
// has joined its group.
import { Kafka, logLevel } from 'kafkajs';
import { startEcho } from './kafka-roundtrip.js';

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`relay-process: ${name} is required`);
  return v;
};

const kafka = new Kafka({ clientId: 'bench-relay', brokers: env('RELAY_BROKERS').split(','), logLevel: logLevel.WARN });
const relay = await startEcho(kafka, env('RELAY_GROUP'), env('RELAY_FROM'), env('RELAY_TO'));
console.log('relay running');
process.once('SIGTERM', () => void relay.stop().then(() => process.exit(0)));
