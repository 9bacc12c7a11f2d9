/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-argument -- answers are JSON checked by expect() shape by shape */
import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { canonicalJson } from '@stepgate/contracts';
import { IdentitiesRepository, SessionsRepository } from '@stepgate/store';
import { testNamespace } from '@stepgate/test';
import { bundle, email, startControlPlaneStack, TENANT, type ControlPlaneStack, type Person } from './stack.js';
import { startTokenIssuer } from './token-issuer.js';
import { registerPrincipal } from '../pipeline.js';

/** The control plane's API on the real stack, called with bearer tokens of an OpenID Connect issuer. */
const ns = testNamespace('cp_api');
let stack: ControlPlaneStack;
let issuer: Awaited<ReturnType<typeof startTokenIssuer>>;
const COOKIE_SECRET = randomBytes(32).toString('hex');

beforeAll(async () => {
  issuer = await startTokenIssuer();
  stack = await startControlPlaneStack(ns, { issuer: issuer.issuer, overrides: { cookieSecret: COOKIE_SECRET } });
});

afterAll(async () => {
  await stack?.stop();
  await issuer?.close();
  await ns.cleanup();
});

async function call(
  who: Person | { token: string } | undefined,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: any; text: string }> {
  const token =
    who === undefined
      ? undefined
      : typeof who === 'string'
        ? await issuer.token({ sub: `sub-${who}`, email: email(who) })
        : who.token;
  const res = await fetch(`${stack.portal}${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

/** The audit events the control plane wrote to the outbox (the audit service relays them). */
async function audited(action: string): Promise<any[]> {
  const { rows } = await ns.pool.query<{ value: string }>('select value from outbox order by id');
  return rows.map((r) => JSON.parse(r.value)).filter((v) => v.action === action);
}

describe('identity: 401 without a valid token, 403 without a principal or role', () => {
  it('no token, a malformed header, a forged, expired or wrong-audience token: 401', async () => {
    expect((await call(undefined, 'GET', '/api/v1/approvals')).json.error.code).toBe('UNAUTHENTICATED');
    expect((await call(undefined, 'GET', '/api/v1/approvals')).status).toBe(401);
    const bad = async (token: string) => {
      const r = await call({ token }, 'GET', '/api/v1/approvals');
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('INVALID_TOKEN');
    };
    await bad('not-a-jwt');
    await bad(await issuer.token({ sub: 'sub-bob', email: email('bob'), forged: true }));
    await bad(
      await issuer.token({ sub: 'sub-bob', email: email('bob'), expiresIn: Math.floor(Date.now() / 1000) - 120 }),
    );
    await bad(await issuer.token({ sub: 'sub-bob', email: email('bob'), audience: 'someone-else' }));
    const r = await fetch(`${stack.portal}/api/v1/approvals`, { headers: { authorization: 'Basic Ym9iOmJvYg==' } });
    expect(r.status).toBe(401);
  });

  it('a valid token of a person linked to no principal, or a principal without roles: 403', async () => {
    const stranger = await issuer.token({ sub: 'sub-x', email: 'stranger@elsewhere.example' });
    const r = await call({ token: stranger }, 'GET', '/api/v1/approvals');
    expect([r.status, r.json.error.code]).toEqual([403, 'NOT_A_PRINCIPAL']);
    const m = await call('mallory', 'GET', '/api/v1/approvals');
    expect([m.status, m.json.error.code]).toEqual([403, 'FORBIDDEN']);
  });

  it('an email the provider does not call verified: 401 EMAIL_NOT_VERIFIED', async () => {
    const token = await issuer.token({ sub: 'sub-bob', email: email('bob'), email_verified: false });
    const r = await call({ token }, 'GET', '/api/v1/approvals');
    expect([r.status, r.json.error.code]).toEqual([401, 'EMAIL_NOT_VERIFIED']);
  });

  it('the tenant comes from the mapping, not the token: a tenant claim changes nothing', async () => {
    const token = await issuer.token({ sub: 'sub-carol', email: email('carol'), tenant_id: TENANT });
    const me = await call({ token }, 'GET', '/api/v1/me');
    expect(me.json).toMatchObject({ tenant_id: 'globex', principal: 'carol' });
  });
});

describe('portal sessions follow the principal as it is now', () => {
  /** A portal session of `principal` opened by the identity `claimValue`; calls the API with its cookie. */
  async function portalSession(principal: Person, claimValue: string) {
    const token = randomBytes(32).toString('base64url');
    await new SessionsRepository(ns.pool).create({
      tokenSha256: createHash('sha256').update(token).digest('hex'),
      tenantId: TENANT,
      principal,
      issuer: issuer.issuer,
      subject: `sub-${principal}`,
      claimValue,
      roles: ['approver'],
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const csrf = createHmac('sha256', COOKIE_SECRET).update(`csrf:${token}`).digest('base64url');
    return async (method: string, path: string) => {
      const res = await fetch(`${stack.portal}${path}`, {
        method,
        headers: { cookie: `sg_session=${token}`, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: JSON.stringify({ comment: 'Reviewed the plan, go' }) } : {}),
      });
      return { status: res.status, json: (await res.json()) as any };
    };
  }

  it("bob's approver role removed mid-session: approve is 403 at once; unlinked: the session is gone", async () => {
    const asBob = await portalSession('bob', email('bob'));
    const approve = `/api/v1/approvals/${randomUUID()}/approve`;
    expect((await asBob('POST', approve)).json.error.code).not.toBe('FORBIDDEN');
    await ns.pool.query(`update principals set roles = '{}' where tenant_id = $1 and principal = 'bob'`, [TENANT]);
    try {
      const refused = await asBob('POST', approve);
      expect([refused.status, refused.json.error.code]).toEqual([403, 'FORBIDDEN']);
    } finally {
      await ns.pool.query(`update principals set roles = '{approver}' where tenant_id = $1 and principal = 'bob'`, [
        TENANT,
      ]);
    }
    expect((await asBob('GET', '/api/v1/me')).status).toBe(200);
    const link = await ns.pool.query(
      `delete from principal_identities where tenant_id = $1 and principal = 'bob' returning *`,
      [TENANT],
    );
    try {
      expect((await asBob('GET', '/api/v1/me')).status).toBe(401);
    } finally {
      const l = link.rows[0] as { issuer: string; claim_value: string };
      await ns.pool.query(
        `insert into principal_identities (issuer, claim_value, tenant_id, principal) values ($1, $2, $3, 'bob')`,
        [l.issuer, l.claim_value, TENANT],
      );
    }
  });

  it('a session of an identity no longer linked to its principal: 401 UNAUTHENTICATED while another identity is', async () => {
    // Bob's session opened by an identity 0016 unlinked (or that was moved to another principal since):
    // bob is linked, but to another identity.
    const asOldBob = await portalSession('bob', 'old-bob@demo.example');
    const refused = await asOldBob('GET', '/api/v1/me');
    expect([refused.status, refused.json.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    expect((await (await portalSession('bob', email('bob')))('GET', '/api/v1/me')).status).toBe(200);
  });
});

describe('approvals and decisions', () => {
  it('each role: viewer and auditor read, only approvers decide; another tenant gets 404', async () => {
    const { id } = await stack.pendingDeploy();
    const list = await call('dave', 'GET', '/api/v1/approvals?status=pending');
    expect(list.status).toBe(200);
    const mine = list.json.find((a: any) => a.approval_id === id);
    expect(mine).toMatchObject({
      tenant_id: TENANT,
      status: 'pending',
      approval_url: `${stack.portal}/approvals/${id}`,
    });
    expect((await call('erin', 'GET', `/api/v1/approvals/${id}`)).status).toBe(200);

    const comment = { comment: 'Looks right to me, go' };
    for (const who of ['dave', 'erin'] as const)
      expect((await call(who, 'POST', `/api/v1/approvals/${id}/approve`, comment)).status).toBe(403);

    const carolList = await call('carol', 'GET', '/api/v1/approvals');
    expect(carolList.json.map((a: any) => a.approval_id)).not.toContain(id);
    for (const [method, path, body] of [
      ['GET', `/api/v1/approvals/${id}`, undefined],
      ['POST', `/api/v1/approvals/${id}/approve`, comment],
      ['POST', `/api/v1/approvals/${id}/reject`, comment],
    ] as const) {
      const r = await call('carol', method, path, body);
      expect([r.status, r.json.error.code]).toEqual([404, expect.stringMatching(/NOT_FOUND/)]);
    }
    expect((await stack.approvers.status(id)).status).toBe('pending');
  });

  it('400 with field-level errors: a short comment, a bad digest, a bad id, wrong types', async () => {
    const { id } = await stack.pendingDeploy();
    const short = await call('bob', 'POST', `/api/v1/approvals/${id}/approve`, { comment: 'ok' });
    expect(short.status).toBe(400);
    expect(short.json.error).toMatchObject({ code: 'INVALID_INPUT', fields: [{ field: 'body.comment' }] });
    const digest = await call('bob', 'POST', `/api/v1/approvals/${id}/approve`, {
      comment: 'Fine by me, go',
      action_digest: 'x',
    });
    expect(digest.json.error.fields[0].field).toBe('body.action_digest');
    const badId = await call('bob', 'POST', '/api/v1/approvals/not-a-uuid/approve', { comment: 'Fine by me, go' });
    expect([badId.status, badId.json.error.fields[0].field]).toEqual([400, 'path.approval_id']);
    const types = await call('bob', 'POST', `/api/v1/approvals/${id}/approve`, { comment: 42 });
    expect(types.status).toBe(400);
    const limit = await call('bob', 'GET', '/api/v1/approvals?limit=100000');
    expect(limit.json.error.fields[0].field).toBe('query.limit');
    const nul = await call('erin', 'GET', '/api/v1/audit?workflow_id=wf%00x');
    expect([nul.status, nul.json.error.fields]).toEqual([
      400,
      [{ field: 'query.workflow_id', message: expect.stringContaining('NUL character') }],
    ]);
    // Who is calling comes first: an anonymous caller learns nothing of how its input is read.
    const anonymous = await call(undefined, 'GET', '/api/v1/audit?workflow_id=wf%00x');
    expect([anonymous.status, anonymous.json.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    const anonymousBody = await call(undefined, 'POST', `/api/v1/approvals/${id}/approve`, { comment: 'go \ud800' });
    expect([anonymousBody.status, anonymousBody.json.error.code]).toEqual([401, 'UNAUTHENTICATED']);
    // Routes for anyone (sign-in) still refuse it before reading it.
    const signIn = await fetch(`${stack.portal}/login?return_to=%2Fapprovals%00`, { redirect: 'manual' });
    expect([signIn.status, ((await signIn.json()) as { error: { code: string } }).error.code]).toEqual([
      400,
      'INVALID_INPUT',
    ]);
    // JSON carries them escaped; Postgres stores neither (the comment is signed, recorded and audited).
    for (const [comment, message] of [
      ['Reviewed the plan \ud800, go', 'lone UTF-16 surrogate'],
      ['Reviewed the plan \u0000, go', 'NUL character'],
    ] as const) {
      const r = await call('bob', 'POST', `/api/v1/approvals/${id}/approve`, { comment });
      expect([r.status, r.json.error.code]).toEqual([400, 'INVALID_INPUT']);
      expect(r.json.error.fields).toEqual([{ field: 'body.comment', message: expect.stringContaining(message) }]);
    }
    expect((await stack.approvers.status(id)).status).toBe('pending');
  });

  it('bob approves through the API: a statement signed by the gateway naming him; the gate resolves allow', async () => {
    const { id, outcome } = await stack.pendingDeploy();
    expect((await call('dave', 'GET', `/api/v1/approvals/${id}`)).json).toMatchObject({
      approvals_required: 1,
      approvals: [],
      eligible_roles: ['approver'],
      escalated: null,
    });
    const r = await call('bob', 'POST', `/api/v1/approvals/${id}/approve`, { comment: 'Reviewed the plan, go' });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toMatchObject({ approval_id: id, status: 'approved' });
    expect((await call('dave', 'GET', `/api/v1/approvals/${id}`)).json.approvals).toEqual([
      { principal: 'bob', approved_at: expect.any(String) },
    ]);
    expect(await outcome).toMatchObject({ decision: 'allow', approval_status: 'approved' });
    const again = await call('bob', 'POST', `/api/v1/approvals/${id}/reject`, { comment: 'Changed my mind now' });
    expect([again.status, again.json.error.code]).toEqual([409, 'APPROVAL_ALREADY_RESOLVED']);
  });

  it('an approval whose step was decided again since shows as superseded once decided: how it had resolved, and the decision that superseded it', async () => {
    const { id, step } = await stack.pendingDeploy();
    const again = await stack.gate.gate({ ...step, step_name: 'build', retry_policy: 'reevaluate' });
    expect(again.decision).toBe('allow');
    const r = await call('bob', 'POST', `/api/v1/approvals/${id}/approve`, { comment: 'Reviewed the plan, go' });
    // The update answers when the approval is decided, before its outcome is recorded (and found superseded).
    expect(r.json).toMatchObject({ approval_id: id, status: 'approved' });
    const detail = () => call('dave', 'GET', `/api/v1/approvals/${id}`);
    await expect.poll(async () => (await detail()).json.status, { timeout: 20_000 }).toBe('superseded');
    expect((await detail()).json.superseded).toEqual({ resolution: 'approved', by_decision_id: again.decision_id });
    const listed = await call('dave', 'GET', '/api/v1/approvals?status=superseded');
    expect(listed.json.map((a: any) => [a.approval_id, a.status])).toContainEqual([id, 'superseded']);
  });

  it('decisions by request id: matched policies and reason; another tenant gets 404', async () => {
    const step = {
      workflow_id: `wf-${Date.now()}`,
      step_id: 'deploy',
      step_name: 'deploy',
      step_type: 'tool_call' as const,
    };
    const d = await stack.gate.gate(step);
    const r = await call('dave', 'GET', `/api/v1/decisions/${d.request_id}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      decision: 'require_approval',
      policies_matched: [{ policy_name: 'approve-production-deploys' }],
    });
    expect((await call('carol', 'GET', `/api/v1/decisions/${d.request_id}`)).status).toBe(404);
    expect((await call('dave', 'GET', '/api/v1/decisions/nope')).status).toBe(400);
  });
});

describe('audit', () => {
  it('auditors query and export; viewers and approvers may not', async () => {
    expect((await call('dave', 'GET', '/api/v1/audit')).status).toBe(403);
    expect((await call('bob', 'GET', '/api/v1/audit/export')).status).toBe(403);
    const page = await call('erin', 'GET', '/api/v1/audit?limit=5&action=GateEvaluated');
    expect(page.status).toBe(200);
    expect(page.json).toHaveProperty('events');
    expect((await call('erin', 'GET', '/api/v1/audit?from=yesterday')).json.error.fields[0].field).toBe('query.from');
    const csv = await call('erin', 'GET', '/api/v1/audit/export?format=csv');
    expect(csv.status).toBe(200);
    expect(csv.text.split('\n')[0]).toContain('timestamp');
  });
});

describe('admin: policies, credentials, tenant settings, thresholds — each change audited with the caller', () => {
  it('non-admins get 403 on every admin route', async () => {
    for (const [method, path] of [
      ['GET', '/api/v1/policies/active'],
      ['GET', '/api/v1/credentials'],
      ['POST', '/api/v1/credentials'],
      ['PATCH', '/api/v1/tenant'],
      ['PUT', '/api/v1/alert-thresholds/block_spike'],
    ] as const)
      expect((await call('bob', method, path, method === 'GET' ? undefined : {})).status, `${method} ${path}`).toBe(
        403,
      );
  });

  it('credentials: create, list, revoke (another tenant’s: 404); audited with alice’s identity', async () => {
    const created = await call('alice', 'POST', '/api/v1/credentials', { principal: 'ci-bot', roles: ['viewer'] });
    expect(created.status).toBe(200);
    expect(created.json.private_key_pem).toContain('PRIVATE KEY');
    const keyId = created.json.key_id as string;
    expect((await call('alice', 'GET', '/api/v1/credentials')).json.map((c: any) => c.key_id)).toContain(keyId);
    expect((await call('carol', 'GET', '/api/v1/credentials')).json.map((c: any) => c.key_id)).not.toContain(keyId);
    expect((await call('carol', 'POST', `/api/v1/credentials/${keyId}/revoke`)).status).toBe(404);
    expect(
      (await call('alice', 'POST', '/api/v1/credentials', { principal: 'x', roles: ['approval_gateway'] })).status,
    ).toBe(400);
    // An existing principal (the approval gateway, an approver, the one just made): never a new key or roles.
    for (const principal of ['portal-gateway', 'bob', 'ci-bot']) {
      const r = await call('alice', 'POST', '/api/v1/credentials', { principal, roles: ['admin'] });
      expect([r.status, r.json.error.code]).toEqual([409, 'PRINCIPAL_EXISTS']);
    }
    const { rows } = await ns.pool.query<{ principal: string; roles: string[]; keys: string }>(
      `select p.principal, p.roles, (select count(*) from credentials c
         where c.tenant_id = p.tenant_id and c.principal = p.principal) as keys
         from principals p where p.tenant_id = $1 and p.principal in ('portal-gateway', 'bob') order by 1`,
      [TENANT],
    );
    expect(rows).toEqual([
      { principal: 'bob', roles: ['approver'], keys: '1' },
      { principal: 'portal-gateway', roles: ['approval_gateway'], keys: '1' },
    ]);
    expect((await call('alice', 'POST', `/api/v1/credentials/${keyId}/revoke`)).status).toBe(200);
    expect((await call('alice', 'POST', `/api/v1/credentials/${keyId}/revoke`)).status).toBe(404);
    const [c] = await audited('CredentialCreated');
    expect(c).toMatchObject({
      tenant_id: TENANT,
      user_id: 'alice',
      detail: { key_id: keyId, actor: 'alice', actor_issuer: issuer.issuer, actor_subject: 'sub-alice' },
    });
    expect(await audited('CredentialRevoked')).toEqual([
      expect.objectContaining({ user_id: 'alice', detail: expect.objectContaining({ key_id: keyId }) }),
    ]);
  });

  it('policies: active, apply (validated; only the own tenant), versions, diff', async () => {
    expect((await call('alice', 'GET', '/api/v1/policies/active')).json.version).toBe(1);
    const next = {
      ...bundle,
      policies: [
        ...bundle.policies,
        {
          ...bundle.policies[0]!,
          name: 'approve-hotfixes',
          conditions: [{ field: 'context.step_name', operator: 'equals', value: 'hotfix' }],
        },
      ],
    };
    const applied = await call('alice', 'POST', '/api/v1/policies', next);
    expect(applied.json).toMatchObject({
      version: 2,
      changed: true,
      sha256: createHash('sha256').update(canonicalJson(next)).digest('hex'),
    });
    expect((await call('alice', 'GET', '/api/v1/policies/versions')).json.map((v: any) => v.version)).toEqual([2, 1]);
    expect((await call('alice', 'GET', '/api/v1/policies/diff?from=1&to=2')).json).toMatchObject({
      added: ['approve-hotfixes'],
      removed: [],
      changed: [],
    });
    const unstorable = await call('alice', 'POST', '/api/v1/policies', { ...bundle, description: 'rules \udc00' });
    expect([unstorable.status, unstorable.json.error.fields]).toEqual([
      400,
      [{ field: 'body.description', message: expect.stringContaining('lone UTF-16 surrogate') }],
    ]);
    const invalid = await call('alice', 'POST', '/api/v1/policies', { ...bundle, policies: [{ name: 1 }] });
    expect([invalid.status, invalid.json.error.code]).toEqual([400, 'INVALID_BUNDLE']);
    const foreign = await call('carol', 'POST', '/api/v1/policies', bundle);
    expect(foreign.json.error.fields).toEqual([{ field: 'body.tenant_id', message: 'expected "globex"' }]);
    expect((await call('alice', 'GET', '/api/v1/policies/versions/9')).status).toBe(404);
    expect(await audited('PolicyBundleApplied')).toEqual([
      expect.objectContaining({ user_id: 'alice', detail: expect.objectContaining({ version: 2 }) }),
    ]);
  });

  it('tenant settings and alert thresholds', async () => {
    const patched = await call('alice', 'PATCH', '/api/v1/tenant', { approval_timeout_seconds: 600 });
    expect(patched.json).toMatchObject({ tenant_id: TENANT, approval_timeout_seconds: 600 });
    // The caller's own tenant only, read by its id.
    expect((await call('alice', 'GET', '/api/v1/tenant')).json).toMatchObject({
      tenant_id: TENANT,
      approval_timeout_seconds: 600,
    });
    expect((await call('alice', 'PATCH', '/api/v1/tenant', { tenant_id: 'globex' })).status).toBe(400);
    expect(
      (await call('alice', 'PUT', '/api/v1/alert-thresholds/block_spike', { threshold: 5, window_seconds: 30 })).status,
    ).toBe(200);
    expect(
      (await call('alice', 'PUT', '/api/v1/alert-thresholds/nope', { threshold: 5 })).json.error.fields[0].field,
    ).toBe('path.rule');
    expect((await call('alice', 'GET', '/api/v1/alert-thresholds')).json).toEqual([
      { rule: 'block_spike', threshold: 5, window_seconds: 30 },
    ]);
    expect((await call('carol', 'GET', '/api/v1/alert-thresholds')).json).toEqual([]);
    expect((await call('alice', 'DELETE', '/api/v1/alert-thresholds/block_spike')).status).toBe(200);
    expect((await audited('TenantSettingsChanged'))[0]).toMatchObject({ user_id: 'alice' });
    expect((await audited('AlertThresholdChanged')).map((e) => e.outcome)).toEqual(['Changed', 'Reset']);
  });
});

describe('webhooks: the tenant’s, admin only, secrets shown once, each change audited', () => {
  it('alice adds, lists and removes; bob gets 403; carol gets 404 for alice’s; bad input 400 by field', async () => {
    const generated = await call('alice', 'POST', '/api/v1/webhooks', {
      url: 'https://hooks.example.com/stepgate?token=t0ps3cret',
      format: 'slack',
    });
    expect(generated.status, generated.text).toBe(200);
    expect(generated.json).toMatchObject({
      webhook_id: expect.stringMatching(/^whk_/),
      format: 'slack',
      enabled: true,
      secret: expect.stringMatching(/^.{16,}$/),
    });
    const chosen = 'a-secret-the-admin-chose';
    const given = await call('alice', 'POST', '/api/v1/webhooks', {
      url: 'https://hooks.example.com/b',
      secret: chosen,
    });
    expect(given.json).toMatchObject({ format: 'json' });
    expect(given.json).not.toHaveProperty('secret');
    const ids = [generated.json.webhook_id as string, given.json.webhook_id as string];

    const list = await call('alice', 'GET', '/api/v1/webhooks');
    expect(list.json.map((w: any) => w.webhook_id)).toEqual(ids);
    for (const secret of [generated.json.secret as string, chosen]) expect(list.text).not.toContain(secret);

    expect((await call('carol', 'GET', '/api/v1/webhooks')).json).toEqual([]);
    const foreign = await call('carol', 'DELETE', `/api/v1/webhooks/${ids[0]}`);
    expect([foreign.status, foreign.json.error.code]).toEqual([404, 'NOT_FOUND']);
    for (const [method, path, body] of [
      ['GET', '/api/v1/webhooks', undefined],
      ['POST', '/api/v1/webhooks', { url: 'https://hooks.example.com/c' }],
      ['DELETE', `/api/v1/webhooks/${ids[0]}`, undefined],
    ] as const)
      expect((await call('bob', method, path, body)).status, `${method} ${path}`).toBe(403);

    const refused = async (body: unknown) => {
      const r = await call('alice', 'POST', '/api/v1/webhooks', body);
      expect(r.status).toBe(400);
      return r.json.error.fields.map((f: any) => f.field);
    };
    expect(await refused({ url: 'http://hooks.example.com/x' })).toEqual(['body.url']);
    expect(await refused({ url: 'http://127.0.0.1:9/x' })).toEqual(['body.url']);
    expect(await refused({ url: 'https://user:pw@hooks.example.com/x' })).toEqual(['body.url']);
    expect(await refused({ url: `https://hooks.example.com/${'x'.repeat(3000)}` })).toEqual(['body.url']);
    expect(await refused({ url: 'https://hooks.example.com/x', secret: 'short' })).toEqual(['body.secret']);
    expect(await refused({ url: 'https://hooks.example.com/x', format: 'xml' })).toEqual(['body.format']);
    expect(await refused({ url: 42 })).toEqual(['body.url']);
    expect(await refused({ url: 'https://hooks.example.com/x', tenant_id: 'globex' })).toEqual(['body']);
    expect((await call('alice', 'DELETE', '/api/v1/webhooks/not%20an%20id')).json.error.fields[0].field).toBe(
      'path.webhook_id',
    );

    expect((await call('alice', 'DELETE', `/api/v1/webhooks/${ids[0]}`)).status).toBe(200);
    expect((await call('alice', 'DELETE', `/api/v1/webhooks/${ids[0]}`)).status).toBe(404);
    expect((await call('alice', 'GET', '/api/v1/webhooks')).json.map((w: any) => w.webhook_id)).toEqual([ids[1]]);

    const added = await audited('WebhookAdded');
    expect(added).toEqual(
      ids.map((id) =>
        expect.objectContaining({
          tenant_id: TENANT,
          user_id: 'alice',
          detail: expect.objectContaining({ webhook_id: id }),
        }),
      ),
    );
    expect(added[0].detail).toMatchObject({
      url: 'https://hooks.example.com',
      url_sha256: expect.stringMatching(/^[0-9a-f]{32}$/),
      format: 'slack',
      actor: 'alice',
      actor_subject: 'sub-alice',
    });
    expect(JSON.stringify(added)).not.toMatch(/t0ps3cret|a-secret-the-admin-chose|\/stepgate/);
    expect(JSON.stringify(added)).not.toContain(generated.json.secret);
    expect(await audited('WebhookRemoved')).toEqual([
      expect.objectContaining({ user_id: 'alice', detail: expect.objectContaining({ webhook_id: ids[0] }) }),
    ]);
  });
});

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1, generated from the routes’ schemas', async () => {
    const doc = (await call(undefined, 'GET', '/api/openapi.json')).json;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/api/v1/approvals',
        '/api/v1/approvals/{approval_id}/approve',
        '/api/v1/audit/export',
        '/api/v1/credentials',
        '/api/v1/webhooks',
        '/api/v1/webhooks/{webhook_id}',
      ]),
    );
    expect(doc.components.schemas.Approval.properties).toHaveProperty('approval_url');
    expect(doc.components.schemas.Approval.properties).toHaveProperty('approvals_required');
    expect(doc.components.schemas.CreatedWebhook.properties).toHaveProperty('secret');
    expect(doc.components.schemas.Webhook.properties).not.toHaveProperty('secret');
  });
});

/** A partition of audit_log for one day of 2001, with `rows` rows of TENANT (each `pad` characters longer). */
async function auditRowsOf2001(p: { partition: string; day: string; rows: number; firstSeq: number; pad: number }) {
  await ns.pool.query(
    `create table if not exists ${p.partition} partition of audit_log
       for values from ('${p.day}') to (date '${p.day}' + 1)`,
  );
  await ns.pool.query(
    `insert into audit_log (id, "timestamp", tenant_id, action, inputs_summary, outcome, elapsed_ms,
                            policies_matched, event, seq, prev_hash, row_hash)
     select gen_random_uuid(), $2::timestamptz + g * interval '1 ms', $1, 'StepCompleted', '', 'ok', 0,
            '{}', jsonb_build_object('pad', repeat('x', $4), 'n', g), $3 + g - 1, '', ''
       from generate_series(1, $5) g`,
    [TENANT, p.day, p.firstSeq, p.pad, p.rows],
  );
}

describe('an export whose reader leaves', () => {
  it('holds a connection of the exports only (another export of the tenant waits: 429 EXPORT_IN_PROGRESS), ends at once when its reader leaves and gives the connection back', async () => {
    await auditRowsOf2001({
      partition: 'audit_log_cp_export',
      day: '2001-01-01',
      rows: 10_000,
      firstSeq: 1_000_001,
      pad: 1500,
    });
    const { pool, exportPool } = stack.controlPlane as unknown as { pool: pg.Pool; exportPool: pg.Pool };
    const leave = new AbortController();
    const token = await issuer.token({ sub: 'sub-erin', email: email('erin') });
    const exportUrl = `${stack.portal}/api/v1/audit/export?format=jsonl`;
    const res = await fetch(exportUrl, { headers: { authorization: `Bearer ${token}` }, signal: leave.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    await expect.poll(() => exportPool.totalCount - exportPool.idleCount).toBe(1);
    // The reader stalls: the rest of the API has its connections, and the tenant's next export is refused.
    const second = await fetch(exportUrl, { headers: { authorization: `Bearer ${token}` } });
    expect([second.status, ((await second.json()) as { error: { code: string } }).error.code]).toEqual([
      429,
      'EXPORT_IN_PROGRESS',
    ]);
    expect((await call('erin', 'GET', '/api/v1/audit?limit=1')).status).toBe(200);
    expect(pool.totalCount - pool.idleCount).toBe(0);
    leave.abort();
    await expect.poll(() => exportPool.totalCount - exportPool.idleCount, { timeout: 10_000 }).toBe(0);
    const again = await fetch(`${exportUrl}&workflow_id=none`, { headers: { authorization: `Bearer ${token}` } });
    expect(again.status).toBe(200);
    await again.text();
  });
});

describe('an export whose read is blocked on the server', () => {
  it('a reader who leaves mid-read gets the query cancelled: the slots and the connections come back at once (two abandoned exports no longer answer EXPORTS_BUSY for minutes)', async () => {
    await auditRowsOf2001({
      partition: 'audit_log_cp_locked',
      day: '2001-02-01',
      rows: 10,
      firstSeq: 2_000_001,
      pad: 0,
    });
    // A third tenant's auditor: two tenants' exports fill the instance, the third is refused as busy.
    await registerPrincipal(ns, 'initech', 'ida', ['auditor']);
    await new IdentitiesRepository(ns.pool).link({
      issuer: issuer.issuer,
      claimValue: 'ida@initech.example',
      tenantId: 'initech',
      principal: 'ida',
    });
    const tokens = {
      erin: await issuer.token({ sub: 'sub-erin', email: email('erin') }),
      carol: await issuer.token({ sub: 'sub-carol', email: email('carol') }),
      ida: await issuer.token({ sub: 'sub-ida', email: 'ida@initech.example' }),
    };
    // CSV: its header line goes out before the first read, so the answer's status comes while the read waits.
    const exportAs = (who: keyof typeof tokens, format: 'csv' | 'jsonl', signal?: AbortSignal) =>
      fetch(`${stack.portal}/api/v1/audit/export?format=${format}`, {
        headers: { authorization: `Bearer ${tokens[who]}` },
        ...(signal ? { signal } : {}),
      });
    const refusal = async (res: Response) => [
      res.status,
      ((await res.json()) as { error: { code: string } }).error.code,
    ];
    const { exportPool } = stack.controlPlane as unknown as { exportPool: pg.Pool };
    const checkedOut = () => exportPool.totalCount - exportPool.idleCount;
    const waitingOnLock = async () =>
      (
        await ns.pool.query<{ n: number }>(
          `select count(*)::int as n from pg_locks where relation = 'audit_log_cp_locked'::regclass and not granted`,
        )
      ).rows[0]!.n;

    // Another connection holds the partition: every export's read waits on the server until it lets go.
    const holder = await ns.pool.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table audit_log_cp_locked in access exclusive mode');
      const erinLeaves = new AbortController();
      const carolLeaves = new AbortController();
      const abandoned = [exportAs('erin', 'csv', erinLeaves.signal), exportAs('carol', 'csv', carolLeaves.signal)].map(
        (p) => p.then((res) => res.text()).catch(() => undefined),
      );
      await expect.poll(waitingOnLock, { timeout: 10_000 }).toBe(2);
      expect(checkedOut()).toBe(2);
      expect(await refusal(await exportAs('erin', 'csv'))).toEqual([429, 'EXPORT_IN_PROGRESS']);
      expect(await refusal(await exportAs('ida', 'csv'))).toEqual([429, 'EXPORTS_BUSY']);

      erinLeaves.abort();
      carolLeaves.abort();
      await Promise.all(abandoned);
      // While the lock is still held: the server no longer runs their queries, the pool has its connections back.
      await expect.poll(waitingOnLock, { timeout: 10_000 }).toBe(0);
      await expect.poll(checkedOut, { timeout: 10_000 }).toBe(0);
      const idaLeaves = new AbortController();
      const ida = await exportAs('ida', 'csv', idaLeaves.signal);
      expect(ida.status).toBe(200);
      await expect.poll(waitingOnLock, { timeout: 10_000 }).toBe(1);
      idaLeaves.abort();
      await ida.text().catch(() => undefined);
      await expect.poll(waitingOnLock, { timeout: 10_000 }).toBe(0);
      await expect.poll(checkedOut, { timeout: 10_000 }).toBe(0);
    } finally {
      await holder.query('rollback').catch(() => undefined);
      holder.release();
    }

    // The next export of the tenant runs to its end: nothing of the cancelled queries is left on the pool.
    const { rows } = await ns.pool.query<{ n: number }>(
      'select count(*)::int as n from audit_log where tenant_id = $1',
      [TENANT],
    );
    const again = await exportAs('erin', 'jsonl');
    expect(again.status).toBe(200);
    expect((await again.text()).split('\n').filter(Boolean)).toHaveLength(rows[0]!.n);
  });
});
