/**
 * The setup the secure-mode suites share: a test namespace on the secure stack (the admin's SASL user,
 * PostgreSQL over TLS), the services' ACLs, and per tenant its decisions topic and its orchestrator's ACLs.
 */
import { inject } from 'vitest';
import { tenantDecisionTopic } from '@stepgate/contracts';
import { orchestratorAcls, serviceAcls } from '@stepgate/infra';
import { KafkaConnection, type TopicAdmin } from '@stepgate/messaging';
import { secureStack, testNamespace, type SecureStack, type TestNamespace } from '@stepgate/test';

export interface Orchestrator {
  user: string;
  tenantId: string;
}

export class SecureNamespace {
  /** Tenant decisions topics made here (deleted by `cleanup`); a test adds the ones it makes. */
  readonly tenantTopics: string[] = [];

  private constructor(
    readonly secure: SecureStack,
    readonly ns: TestNamespace,
  ) {}

  /** The secure stack (started if it does not answer) and a migrated namespace with its topics on it. */
  static async create(name: string): Promise<SecureNamespace> {
    const shared = inject('endpoints');
    const secure = await secureStack(shared.databaseUrl);
    const ns = testNamespace(name, {
      endpoints: {
        kafkaBrokers: secure.brokers,
        kafkaSecurity: secure.as('admin'),
        temporalAddress: shared.temporalAddress,
        databaseUrl: shared.databaseUrl,
        databaseSsl: secure.databaseSsl,
      },
    });
    await ns.migrate();
    await ns.createTopics();
    return new SecureNamespace(secure, ns);
  }

  asAdmin<T>(fn: (admin: TopicAdmin) => Promise<T>): Promise<T> {
    const { secure, ns } = this;
    return new KafkaConnection({
      clientId: `${ns.id}-admin`,
      brokers: secure.brokers,
      ...secure.as('admin'),
    }).withAdmin(fn);
  }

  /** The services' ACLs, and each orchestrator's tenant decisions topic and ACLs. */
  async grant(orchestrators: Orchestrator[]): Promise<void> {
    const { ns } = this;
    await this.asAdmin(async (admin) => {
      await admin.grant(serviceAcls({ topicPrefix: ns.topicPrefix, groupPrefix: ns.groupPrefix }));
      for (const { user, tenantId } of orchestrators) {
        await admin.ensureTenantDecisionTopic(tenantId, ns.topicPrefix);
        this.tenantTopics.push(tenantDecisionTopic(tenantId, ns.topicPrefix));
        await admin.grant(orchestratorAcls({ user, tenantId, topicPrefix: ns.topicPrefix }));
      }
    });
  }

  /** Deletes the tenant topics, revokes what `grant` granted, and cleans the namespace up. */
  async cleanup(orchestrators: Orchestrator[]): Promise<void> {
    const { ns } = this;
    await ns.withAdmin((admin) => admin.deleteTopics({ topics: this.tenantTopics })).catch(() => undefined);
    await this.asAdmin(async (admin) => {
      await admin.revoke(serviceAcls({ topicPrefix: ns.topicPrefix, groupPrefix: ns.groupPrefix }));
      for (const o of orchestrators) await admin.revoke(orchestratorAcls({ ...o, topicPrefix: ns.topicPrefix }));
    }).catch(() => undefined);
    await ns.cleanup();
  }
}
