import { describe, expect, it } from 'vitest';
import type { ApprovalListing } from '@stepgate/approvals-client';
import { renderApproval } from '../src/commands/approvals.js';
import { printable, run, terminalSafe, type Io } from '../src/index.js';

/** Anything a terminal would obey: C0 but tab and newline, DEL, C1, bidi overrides and isolates. */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;
const HOSTILE = 'deploy\u001b]0;pwned\u0007\u001b[2J\u009b31m\u0000\u202eevil\r\n  reason    approved by ops';

describe('CLI output never carries a control character raw', () => {
  it('printable shows every control character escaped, line breaks too; terminalSafe keeps newlines and a leading CR', () => {
    expect(printable('a\u001b[31mb\u009bc\u202ed\te\nf\rg\u0000')).toBe(
      'a\\u001b[31mb\\u009bc\\u202ed\\u0009e\\u000af\\u000dg\\u0000',
    );
    expect(printable('plain – ünïcode ✓')).toBe('plain – ünïcode ✓');
    expect(terminalSafe('\rexported 5 rows\u001b[2K\n')).toBe('\rexported 5 rows\\u001b[2K\n');
    expect(terminalSafe('a\rb\tc\n')).toBe('a\\u000db\tc\n');
    expect(RAW_CONTROL.test(printable(HOSTILE))).toBe(false);
  });

  it('escaped JSON output parses back to the very same values', () => {
    const value = { step_name: `x\u009b\u0085\u007f\u202e${HOSTILE}` };
    const shown = terminalSafe(JSON.stringify(value));
    expect(RAW_CONTROL.test(shown)).toBe(false);
    expect(JSON.parse(shown)).toEqual(value);
  });

  it('approvals list: a hostile step name, reason or requester shows escaped, on its own line', () => {
    const listing: ApprovalListing = {
      approval_id: '6f0b5b1e-8f5c-4d0a-9a57-3c1f0e4b7d21',
      tenant_id: 'acme\u001b[8m',
      status: 'pending',
      age_seconds: 5,
      time_left_seconds: 600,
      workflow_id: 'wf\u009b2J',
      step_id: 's\u0000',
      step_name: HOSTILE,
      step_type: 'tool_call',
      reason: HOSTILE,
      severity: 'high',
      requested_by: { principal: 'bot\u001bc', user_id: 'u\u202e', agent_id: null },
      policies_matched: ['p\u0007'],
      inputs_summary: HOSTILE,
      requested_at: '2026-11-18T10:30:00Z',
      expires_at: '2026-11-18T11:30:00Z',
      action_digest: 'ab\u001b[2Jcd',
    };
    const text = renderApproval(listing);
    expect(RAW_CONTROL.test(text)).toBe(false);
    expect(text.split('\n')).toHaveLength(9);
    expect(text).toContain('  digest    ab\\u001b[2Jcd');
    expect(text).toContain('(deploy\\u001b]0;pwned\\u0007\\u001b[2J\\u009b31m\\u0000\\u202eevil\\u000d\\u000a');
    expect(text).not.toMatch(/^ {2}reason {4}approved/m);
  });

  it('run: an argument echoed in an error comes out escaped', async () => {
    let stdout = '';
    let stderr = '';
    const io: Io = { out: (t) => void (stdout += t), err: (t) => void (stderr += t), cwd: process.cwd() };
    const code = await run(['approvals', 'list', '--status', 'x\u001b[2J\u009b'], io);
    expect(code).toBe(2);
    expect(stderr).toContain('--status "x\\u001b[2J\\u009b"');
    expect(RAW_CONTROL.test(stdout + stderr)).toBe(false);
  });
});
