import type { AclEntry, Admin } from 'kafkajs';

/** One ALLOW rule of the broker's authorizer (StandardAuthorizer): a principal may do an operation on a resource. */
export interface AclGrant {
  /** `User:<name>` (the SASL user). */
  principal: string;
  resource: 'topic' | 'group' | 'cluster';
  /** The resource's name, or its prefix when `prefixed`. `kafka-cluster` for the cluster. */
  name: string;
  prefixed?: boolean;
  operation: 'read' | 'write' | 'create' | 'describe' | 'delete' | 'alter' | 'all';
}

// The protocol's codes (kafkajs' enums are not visible as named ES exports under Node's loader).
const RESOURCE = { topic: 2, group: 3, cluster: 4 } as const;
const OPERATION = { all: 2, read: 3, write: 4, create: 5, delete: 6, alter: 7, describe: 8 } as const;
const PATTERN = { literal: 3, prefixed: 4 } as const;
const ALLOW = 3;

function entry(g: AclGrant): AclEntry {
  return {
    principal: g.principal,
    host: '*',
    resourceType: RESOURCE[g.resource],
    resourceName: g.name,
    resourcePatternType: g.prefixed ? PATTERN.prefixed : PATTERN.literal,
    operation: OPERATION[g.operation],
    permissionType: ALLOW,
  };
}

/** Adds the grants (existing ones are left as they are: creating an ACL twice is a no-op). */
export async function createAcls(admin: Admin, grants: readonly AclGrant[]): Promise<void> {
  if (grants.length) await admin.createAcls({ acl: grants.map(entry) });
}

/** Removes exactly these grants. */
export async function deleteAcls(admin: Admin, grants: readonly AclGrant[]): Promise<void> {
  if (grants.length) await admin.deleteAcls({ filters: grants.map(entry) });
}
