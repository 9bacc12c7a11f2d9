/**
 * How a process reaches Kafka. Every Kafka client of stepgate is built from one of these, so transport
 * security (TLS, SASL) is added here once for services, clients, the CLI and tools alike. Processes
 * read the values through their settings schema (`@stepgate/runtime`); clients pass them in.
 */
export interface KafkaSettings {
  brokers: string[];
  clientId: string;
}
