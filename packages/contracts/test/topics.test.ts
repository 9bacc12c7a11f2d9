import { describe, expect, it } from 'vitest';
import { clientGroupPrefix, decisionTopicFor, hasTenantDecisionTopic, tenantDecisionTopic } from '../src/index.js';

describe('decision topics', () => {
  it('the shared topic unless decisions are per tenant', () => {
    expect(decisionTopicFor('acme', { perTenant: false })).toBe('stepgate.gate.decisions');
    expect(decisionTopicFor('acme', { perTenant: true })).toBe('stepgate.gate.decisions.acme');
    expect(decisionTopicFor('acme', { perTenant: true, prefix: 'test.x.' })).toBe('test.x.gate.decisions.acme');
  });

  it('a decision attributed to no tenant, or to an id that cannot name a topic, goes to the shared topic', () => {
    expect(decisionTopicFor(null, { perTenant: true })).toBe('stepgate.gate.decisions');
    for (const hostile of ['../acme', 'acme.other', 'a'.repeat(65), '', 'acme other', 'ácme'])
      expect(decisionTopicFor(hostile, { perTenant: true })).toBe('stepgate.gate.decisions');
  });

  it('refuses to name a topic for an unusable tenant id', () => {
    expect(hasTenantDecisionTopic('acme_eu-1')).toBe(true);
    expect(() => tenantDecisionTopic('acme.eu')).toThrow(RangeError);
  });

  it("gives each tenant's clients a group prefix that covers no other tenant's groups", () => {
    expect(clientGroupPrefix()).toBe('stepgate-client-');
    expect(clientGroupPrefix('acme')).toBe('stepgate-client-acme.');
    const groupOfAcmeX = `${clientGroupPrefix('acme-x')}0b6e0b9c-uuid`;
    expect(groupOfAcmeX.startsWith(clientGroupPrefix('acme'))).toBe(false);
    for (const hostile of ['acme.other', '', 'a'.repeat(65), 'acme other'])
      expect(() => clientGroupPrefix(hostile)).toThrow(RangeError);
  });
});
