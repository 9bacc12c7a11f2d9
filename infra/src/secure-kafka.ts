/**
 * The secure broker's authorization: which principal may do what, as StandardAuthorizer ACLs. The
 * broker allows nothing without an ACL (allow.everyone.if.no.acl.found=false); `admin` is its super
 * user and applies these. docs/operations.md shows the same table.
 */
import {
  clientGroupPrefix,
  DEFAULT_TOPIC_PREFIX,
  TENANT_DECISIONS_INFIX,
  tenantDecisionTopic,
  topicName,
} from '@stepgate/contracts';
import type { AclGrant, TopicAdmin } from '@stepgate/messaging';
import type { TopicName } from '@stepgate/contracts';

/** The SASL users of the services and the control plane (the CLI). */
export interface ServicePrincipals {
  evaluator: string;
  approvals: string;
  audit: string;
  control: string;
}

export const DEFAULT_PRINCIPALS: ServicePrincipals = {
  evaluator: 'evaluator',
  approvals: 'approvals',
  audit: 'audit',
  control: 'control',
};

export interface ServiceAclOptions {
  topicPrefix?: string;
  /** Consumer-group prefix the services' groups start with (default `stepgate-`). */
  groupPrefix?: string;
  principals?: ServicePrincipals;
}

const user = (name: string) => `User:${name}`;

/** What each service may produce and consume: the operations table of docs/operations.md. */
export function serviceAcls(options: ServiceAclOptions = {}): AclGrant[] {
  const prefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  const groups = options.groupPrefix ?? 'stepgate-';
  const p = options.principals ?? DEFAULT_PRINCIPALS;
  const topic = (name: TopicName) => topicName(name, prefix);
  const write = (principal: string, names: TopicName[]): AclGrant[] =>
    names.map((n) => ({ principal: user(principal), resource: 'topic', name: topic(n), operation: 'write' }));
  const read = (principal: string, names: TopicName[]): AclGrant[] =>
    names.map((n) => ({ principal: user(principal), resource: 'topic', name: topic(n), operation: 'read' }));
  const tenantDecisions = (principal: string): AclGrant => ({
    principal: user(principal),
    resource: 'topic',
    name: `${prefix}${TENANT_DECISIONS_INFIX}`,
    prefixed: true,
    operation: 'write',
  });
  const group = (principal: string, name: string): AclGrant => ({
    principal: user(principal),
    resource: 'group',
    name,
    prefixed: true,
    operation: 'read',
  });
  return [
    // Evaluators: decide requests, publish decisions (shared and per tenant), approval requests, audit, dlq.
    ...read(p.evaluator, ['gate.requests', 'step.completions', 'policies']),
    ...write(p.evaluator, ['gate.decisions', 'approvals', 'audit', 'dlq']),
    tenantDecisions(p.evaluator),
    group(p.evaluator, `${groups}evaluator`),
    // Approvals: take approval requests; publish approval outcomes (decisions), reminders, aborts, audit, dlq.
    ...read(p.approvals, ['approvals']),
    ...write(p.approvals, ['gate.decisions', 'approvals', 'workflow.events', 'audit', 'dlq']),
    tenantDecisions(p.approvals),
    group(p.approvals, `${groups}approvals`),
    // Audit: read the audit stream; publish alerts (and their audit rows), dlq, and the outbox relay's
    // committed control-plane notices (policies, audit).
    ...read(p.audit, ['audit']),
    ...write(p.audit, ['audit', 'alerts', 'dlq', 'policies']),
    group(p.audit, `${groups}audit`),
    // Control plane (CLI): policy and credential notices, admin audit; creates tenants' decision topics
    // (and sees them, to know which exist).
    ...write(p.control, ['policies', 'audit']),
    ...(['create', 'describe'] as const).map((operation): AclGrant => ({
      principal: user(p.control),
      resource: 'topic',
      name: `${prefix}${TENANT_DECISIONS_INFIX}`,
      prefixed: true,
      operation,
    })),
  ];
}

export interface OrchestratorAclOptions {
  /** The orchestrator's SASL user. */
  user: string;
  /** Its tenant: the one decisions topic it may read. Absent: the shared decisions topic (single tenant). */
  tenantId?: string;
  topicPrefix?: string;
}

/** An orchestrator: produce gate requests and completions; read its tenant's decisions, nothing else. */
export function orchestratorAcls(options: OrchestratorAclOptions): AclGrant[] {
  const prefix = options.topicPrefix ?? DEFAULT_TOPIC_PREFIX;
  const principal = user(options.user);
  const decisions =
    options.tenantId === undefined
      ? topicName('gate.decisions', prefix)
      : tenantDecisionTopic(options.tenantId, prefix);
  return [
    { principal, resource: 'topic', name: topicName('gate.requests', prefix), operation: 'write' },
    { principal, resource: 'topic', name: topicName('step.completions', prefix), operation: 'write' },
    // Literal, never prefixed: tenant `acme` must not read `acme2`'s topic.
    { principal, resource: 'topic', name: decisions, operation: 'read' },
    // GateClient's groups, one per client: `<clientGroupPrefix(tenant)><uuid>`, each tenant under its own.
    { principal, resource: 'group', name: clientGroupPrefix(options.tenantId), prefixed: true, operation: 'read' },
  ];
}

/** Creates the tenant's decisions topic and lets the orchestrator user read it (as the broker's admin). */
export async function grantOrchestrator(admin: TopicAdmin, options: Required<OrchestratorAclOptions>): Promise<void> {
  await admin.ensureTenantDecisionTopic(options.tenantId, options.topicPrefix);
  await admin.grant(orchestratorAcls(options));
}
