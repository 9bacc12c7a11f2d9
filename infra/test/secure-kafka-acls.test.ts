import { describe, expect, it } from 'vitest';
import { orchestratorAcls } from '../src/secure-kafka.js';

const groupGrants = (tenantId?: string) =>
  orchestratorAcls({ user: 'orchestrator', ...(tenantId ? { tenantId } : {}) }).filter((g) => g.resource === 'group');

describe('orchestrator ACLs', () => {
  it("let a tenant's orchestrator use only its tenant's consumer groups", () => {
    expect(groupGrants('acme')).toEqual([
      expect.objectContaining({ name: 'stepgate-client-acme.', prefixed: true, operation: 'read' }),
    ]);
    expect(groupGrants('acme-x')[0]!.name).toBe('stepgate-client-acme-x.');
  });

  it('keep the shared prefix for a single-tenant install', () => {
    expect(groupGrants()).toEqual([expect.objectContaining({ name: 'stepgate-client-', prefixed: true })]);
  });
});
