import { describe, expect, it } from 'vitest';
import { diffBundles } from '../src/api/bundle-diff.js';
import { CsrfTokens } from '../src/auth/csrf.js';
import { identityFromClaims, UnmappedIdentityError } from '../src/auth/identity.js';
import type { OidcSettings } from '../src/config.js';
import { html, Html } from '../src/portal/html.js';
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
    scopes: 'openid',
    allowInsecureHttp: false,
  };
  const repo = {
    resolve: async ({ claimValue }: { issuer: string; claimValue: string }) =>
      claimValue === 'bob@x.example'
        ? { tenantId: 'demo', principal: 'bob', roles: ['approver', 'approval_gateway'] }
        : undefined,
  } as unknown as IdentitiesRepository;
  const claims = { iss: 'https://idp.example', sub: 's1', email: 'bob@x.example' };

  it('maps the claim to the linked principal; roles are the principal’s (only the four API roles)', async () => {
    expect(await identityFromClaims({ ...claims, tenant_id: 'other' }, oidc, repo)).toEqual({
      tenantId: 'demo',
      principal: 'bob',
      roles: ['approver'],
      issuer: 'https://idp.example',
      subject: 's1',
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
});
