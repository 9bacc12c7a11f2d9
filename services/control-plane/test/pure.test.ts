import { describe, expect, it } from 'vitest';
import { diffBundles } from '../src/api/bundle-diff.js';
import { CsrfTokens } from '../src/auth/csrf.js';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SettingsError } from '@stepgate/runtime';
import { identityFromClaims, UnmappedIdentityError, UnverifiedEmailError } from '../src/auth/identity.js';
import { configFromEnv, type OidcSettings } from '../src/config.js';
import { html, Html } from '../src/portal/html.js';
import { approvalDetail } from '../src/portal/pages.js';
import type { ApprovalListing, ApprovalState } from '@stepgate/approvals-client';
import type { IdentitiesRepository } from '@stepgate/store';

describe('html', () => {
  it('escapes every interpolated value, nested lists too, and keeps Html as is', () => {
    const hostile = `<script>alert("x")</script>'&`;
    expect(html`<p>${hostile}</p>`.text).toBe('<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;</p>');
    expect(
      html`<ul>
        ${[hostile, [html`<li>${'<b>'}</li>`]]}
      </ul>`.text.replace(/\s+/g, ''),
    ).toBe('<ul>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;<li>&lt;b&gt;</li></ul>');
    expect(html`${new Html('<b>ok</b>')}${null}${false}${undefined}${0}`.text).toBe('<b>ok</b>0');
  });
});

describe('approval page', () => {
  it('a superseded approval: its status, how it had resolved, the superseding decision, and no decision form', () => {
    const approval = {
      approval_id: 'a-1',
      tenant_id: 'demo',
      status: 'superseded',
      workflow_id: 'wf-1',
      step_id: 'deploy',
      step_name: 'deploy',
      step_type: 'tool_call',
      reason: 'Deploys need a human',
      severity: null,
      requested_by: { principal: 'orchestrator', user_id: null, agent_id: null },
      policies_matched: [],
      inputs_summary: '{}',
      requested_at: '2026-01-01T00:00:00Z',
      expires_at: '2026-01-01T01:00:00Z',
      age_seconds: 60,
      time_left_seconds: 0,
    } satisfies ApprovalListing;
    const state: ApprovalState = {
      approval_id: 'a-1',
      status: 'superseded',
      tenant_id: 'demo',
      workflow_id: 'wf-1',
      step_id: 'deploy',
      requested_at: approval.requested_at,
      expires_at: approval.expires_at,
      decided_by: 'bob',
      decided_at: '2026-01-01T00:01:00Z',
      comment: 'Reviewed the plan, go',
      superseded: { resolution: 'approved', by_decision_id: 'd-2' },
    };
    const page = approvalDetail({ approval, state, csrf: 'x', canDecide: true }).text.replace(/\s+/g, ' ');
    expect(page).toContain('<span class="status">superseded</span>');
    expect(page).toContain(
      '<dt>Superseded</dt> <dd> approved, but the step was decided again (decision <code>d-2</code>)',
    );
    expect(page).not.toContain('<form');
  });
});

describe('bundle diff', () => {
  it('names added, removed and changed policies and changed settings', () => {
    const a = { environment: 'staging', policies: [{ name: 'a', priority: 1 }, { name: 'b' }] };
    const b = { environment: 'production', policies: [{ name: 'a', priority: 2 }, { name: 'c' }] };
    expect(diffBundles(a, b)).toEqual({
      added: ['c'],
      removed: ['b'],
      changed: ['a'],
      settings_changed: ['environment'],
    });
    expect(diffBundles('junk', null)).toEqual({ added: [], removed: [], changed: [], settings_changed: [] });
  });
});

describe('CSRF tokens', () => {
  it('bind to the session; another session, a wrong or odd value is refused', () => {
    const t = new CsrfTokens('s'.repeat(32));
    const token = t.forSession('session-a');
    expect(t.matches('session-a', token)).toBe(true);
    expect(t.matches('session-b', token)).toBe(false);
    for (const v of [undefined, '', 42, ['x'], token.slice(1), 'x'.repeat(10_000)])
      expect(t.matches('session-a', v)).toBe(false);
  });
});

describe('identity from claims', () => {
  const oidc: OidcSettings = {
    issuer: 'https://idp.example',
    clientId: 'c',
    audience: 'c',
    principalClaim: 'email',
    groupsPrefix: 'stepgate-',
    groupsSessionMaxSeconds: 3600,
    scopes: 'openid',
    allowInsecureHttp: false,
  };
  const repo = {
    resolve: async ({ claimValue }: { issuer: string; claimValue: string }) =>
      claimValue === 'bob@x.example'
        ? { tenantId: 'demo', principal: 'bob', roles: ['approver', 'approval_gateway'] }
        : undefined,
  } as unknown as IdentitiesRepository;
  const claims = { iss: 'https://idp.example', sub: 's1', email: 'bob@x.example', email_verified: true };

  it('maps the claim to the linked principal; roles are the principal’s (only the four API roles)', async () => {
    expect(await identityFromClaims({ ...claims, tenant_id: 'other' }, oidc, repo)).toEqual({
      tenantId: 'demo',
      principal: 'bob',
      roles: ['approver'],
      issuer: 'https://idp.example',
      subject: 's1',
      claimValue: 'bob@x.example',
    });
  });

  it('with a groups claim configured, roles come from the prefixed groups', async () => {
    const id = await identityFromClaims(
      { ...claims, groups: ['stepgate-admin', 'admin', 'stepgate-approval_gateway', 7] },
      { ...oidc, groupsClaim: 'groups' },
      repo,
    );
    expect(id.roles).toEqual(['admin']);
  });

  it('refuses tokens without the claim, or of an unlinked person', async () => {
    await expect(identityFromClaims({ iss: 'x', sub: 's' }, oidc, repo)).rejects.toBeInstanceOf(UnmappedIdentityError);
    await expect(identityFromClaims({ ...claims, email: 'eve@x.example' }, oidc, repo)).rejects.toMatchObject({
      code: 'NOT_A_PRINCIPAL',
    });
  });

  it('refuses an email the provider does not call verified (EMAIL_NOT_VERIFIED); other claims need no such flag', async () => {
    for (const email_verified of [undefined, false, 'true', 1])
      await expect(identityFromClaims({ ...claims, email_verified }, oidc, repo)).rejects.toBeInstanceOf(
        UnverifiedEmailError,
      );
    const bySub = { ...oidc, principalClaim: 'sub' };
    const subRepo = { resolve: async () => ({ tenantId: 'demo', principal: 'bob', roles: ['viewer'] }) };
    expect(
      (await identityFromClaims({ iss: 'x', sub: 's1' }, bySub, subRepo as unknown as IdentitiesRepository)).principal,
    ).toBe('bob');
  });
});

describe('control-plane settings', () => {
  const base = {
    OIDC_ISSUER_URL: 'https://idp.example',
    OIDC_CLIENT_ID: 'portal',
    STEPGATE_COOKIE_SECRET: 'x'.repeat(40),
  };

  it('the principal claim defaults to sub; a groups claim needs a prefix', () => {
    expect(configFromEnv(base).oidc.principalClaim).toBe('sub');
    expect(() => configFromEnv({ ...base, OIDC_GROUPS_CLAIM: 'groups' })).toThrow(SettingsError);
    expect(configFromEnv({ ...base, OIDC_GROUPS_CLAIM: 'groups', OIDC_GROUPS_PREFIX: 'sg-' }).oidc.groupsPrefix).toBe(
      'sg-',
    );
  });

  it('builds Postgres TLS and Temporal TLS / API key like the other services', () => {
    const ca = path.join(tmpdir(), `cp-ca-${process.pid}.pem`);
    writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    const c = configFromEnv({
      ...base,
      DATABASE_SSLMODE: 'verify-full',
      DATABASE_SSL_CA_FILE: ca,
      TEMPORAL_ADDRESS: 'temporal.example:7233',
      TEMPORAL_TLS_CA_FILE: ca,
      TEMPORAL_API_KEY: 'k',
    });
    expect(c.databaseSsl).toMatchObject({ rejectUnauthorized: true, ca: expect.stringContaining('CERTIFICATE') });
    expect(c.temporal).toMatchObject({
      address: 'temporal.example:7233',
      apiKey: 'k',
      tls: { serverRootCACertificate: expect.any(Buffer) },
    });
    expect(configFromEnv(base).databaseSsl).toBe(false);
    expect(configFromEnv(base).temporal).toEqual({ address: '127.0.0.1:7233' });
  });
});
