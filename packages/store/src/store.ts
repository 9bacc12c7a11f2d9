import { AuditReadsRepository } from './audit-reads.js';
import { CredentialsRepository } from './credentials.js';
import type { Db } from './db.js';
import { GateInputsRepository } from './gate-inputs.js';
import { KillSwitchesRepository } from './kill-switches.js';
import { OutboxRepository } from './outbox.js';
import { PolicyBundlesRepository } from './policy-bundles.js';
import { StepLedgerRepository } from './step-ledger.js';
import { AlertThresholdsRepository, TenantsRepository } from './tenants.js';
import { WebhooksRepository } from './webhooks.js';

/** Every repository over one pool or client (a client in a transaction: all of them in it). */
export interface Store {
  ledger: StepLedgerRepository;
  credentials: CredentialsRepository;
  bundles: PolicyBundlesRepository;
  tenants: TenantsRepository;
  alertThresholds: AlertThresholdsRepository;
  auditReads: AuditReadsRepository;
  outbox: OutboxRepository;
  killSwitches: KillSwitchesRepository;
  gateInputs: GateInputsRepository;
  webhooks: WebhooksRepository;
}

export function storeOn(db: Db): Store {
  return {
    ledger: new StepLedgerRepository(db),
    credentials: new CredentialsRepository(db),
    bundles: new PolicyBundlesRepository(db),
    tenants: new TenantsRepository(db),
    alertThresholds: new AlertThresholdsRepository(db),
    auditReads: new AuditReadsRepository(db),
    outbox: new OutboxRepository(db),
    killSwitches: new KillSwitchesRepository(db),
    gateInputs: new GateInputsRepository(db),
    webhooks: new WebhooksRepository(db),
  };
}
