import { describe, expect, it } from 'vitest';
import { decisionTopicFor, hasTenantDecisionTopic, tenantDecisionTopic } from '../src/index.js';

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
});
