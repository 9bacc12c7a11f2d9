import { describe, expect, it } from 'vitest';
import { replyToRefusal } from '../src/reply-to.js';

const to = (temporal_workflow_id: string, temporal_namespace = 'default') => ({
  temporal_workflow_id,
  temporal_namespace,
  signal_name: 'stepgate.decision',
});
const allowance = { namespaces: ['default', 'orchestrators'], workflowPrefixes: ['orchestrator-', 'deploy-'] };

describe('reply_to allowance', () => {
  it('allows a namespace and a workflow-id prefix the tenant allows, and requests without reply_to', () => {
    expect(replyToRefusal(to('orchestrator-42'), allowance)).toBeUndefined();
    expect(replyToRefusal(to('deploy-7', 'orchestrators'), allowance)).toBeUndefined();
    expect(replyToRefusal(undefined, { namespaces: [], workflowPrefixes: [] })).toBeUndefined();
  });

  it('refuses, naming the field: another namespace, another prefix (an approval workflow), and anything by default', () => {
    expect(replyToRefusal(to('orchestrator-42', 'payments'), allowance)).toContain('reply_to.temporal_namespace');
    expect(replyToRefusal(to('approval-0b6f…'), allowance)).toContain('reply_to.temporal_workflow_id');
    expect(replyToRefusal(to('Orchestrator-42'), allowance)).toContain('reply_to.temporal_workflow_id');
    // A prefix without a delimiter (stored before they were required) allows nothing: `acme` ≠ `acme2-…`.
    expect(replyToRefusal(to('acme2-7'), { namespaces: ['default'], workflowPrefixes: ['acme'] })).toContain(
      'reply_to.temporal_workflow_id',
    );
    expect(replyToRefusal(to('orchestrator-42'), { namespaces: [], workflowPrefixes: [] })).toContain(
      'allows no reply_to',
    );
    expect(replyToRefusal(to('orchestrator-42'), { namespaces: ['default'], workflowPrefixes: [] })).toContain(
      'reply_to.temporal_workflow_id',
    );
  });
});
