import type { ConnectionOptions as TlsOptions } from 'node:tls';
import type { SASLOptions } from 'kafkajs';

/** TLS to the brokers: the CA that signed them (else the system CAs) and, for mTLS, a client certificate. */
export interface KafkaTls {
  /** PEM of the CA(s) to trust instead of the system's. */
  ca?: string;
  /** PEM client certificate and key, for brokers that require mutual TLS. */
  cert?: string;
  key?: string;
  /** The name the brokers' certificates are checked against, when it differs from the host dialled. */
  servername?: string;
}

export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

/** SASL authentication: the principal the broker's ACLs are written for. */
export interface KafkaSasl {
  mechanism: SaslMechanism;
  username: string;
  password: string;
}

/** Transport security of a Kafka client; absent parts are off (plaintext, unauthenticated). */
export interface KafkaSecurity {
  /** `true`: TLS with the system CAs. */
  tls?: KafkaTls | true;
  sasl?: KafkaSasl;
}

/**
 * How a process reaches Kafka. Every Kafka client of stepgate is built from one of these, so transport
 * security (TLS, SASL) is added here once for services, clients, the CLI and tools alike. Processes
 * read the values through their settings schema (`@stepgate/runtime`); clients pass them in.
 */
export interface KafkaSettings extends KafkaSecurity {
  brokers: string[];
  clientId: string;
}

/** kafkajs's `ssl` and `sasl` options for a KafkaSecurity. */
export function kafkajsSecurity(security: KafkaSecurity): { ssl?: true | TlsOptions; sasl?: SASLOptions } {
  const out: { ssl?: true | TlsOptions; sasl?: SASLOptions } = {};
  if (security.tls === true) out.ssl = true;
  else if (security.tls) {
    const { ca, cert, key, servername } = security.tls;
    out.ssl = {
      rejectUnauthorized: true,
      ...(ca ? { ca: [ca] } : {}),
      ...(cert ? { cert } : {}),
      ...(key ? { key } : {}),
      ...(servername ? { servername } : {}),
    };
  }
  if (security.sasl) out.sasl = { ...security.sasl };
  return out;
}
