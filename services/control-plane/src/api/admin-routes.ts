import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, type TenantNotice } from '@stepgate/contracts';
import { generateSigningKey } from '@stepgate/contracts/node';
import { validateBundle } from '@stepgate/policy-engine';
import type { Api } from './route.js';
import { auditedBy, change, type ApiDeps } from './deps.js';
import { HttpError, notFound, principalExists } from './errors.js';
import { diffBundles } from './bundle-diff.js';
import {
  ActiveBundleSchema,
  ApplyResultSchema,
  BundleVersionSchema,
  CreateCredentialBody,
  CreatedCredentialSchema,
  CredentialSchema,
  DiffQuery,
  DiffSchema,
  KeyParams,
  OkSchema,
  RuleParams,
  TenantPatch,
  TenantSchema,
  ThresholdBody,
  ThresholdSchema,
  VersionParams,
} from './schemas.js';

const ADMIN = ['admin'] as const;

/** Policies, credentials, tenant settings and alert thresholds of the caller's tenant (admin); every change audited. */
export function adminRoutes(api: Api, deps: ApiDeps): void {
  policyRoutes(api, deps);
  credentialRoutes(api, deps);
  settingsRoutes(api, deps);
}

function policyRoutes(api: Api, deps: ApiDeps): void {
  api.route({
    method: 'get',
    path: '/api/v1/policies/active',
    tag: 'policies',
    summary: "The tenant's active policy bundle (its newest version)",
    roles: ADMIN,
    response: api.schema('ActiveBundle', ActiveBundleSchema),
    handler: async ({ identity }) => {
      const b = await deps.store.bundles.latest(identity.tenantId);
      if (!b) throw notFound('policy bundle');
      return b;
    },
  });

  api.route({
    method: 'get',
    path: '/api/v1/policies/versions',
    tag: 'policies',
    summary: 'Every applied version, newest first',
    roles: ADMIN,
    response: BundleVersionSchema.array(),
    handler: async ({ identity }) =>
      (await deps.store.bundles.history(identity.tenantId)).map((v) => ({
        ...v,
        applied_at: v.applied_at.toISOString(),
      })),
  });

  api.route({
    method: 'get',
    path: '/api/v1/policies/versions/{version}',
    tag: 'policies',
    summary: 'One applied version',
    roles: ADMIN,
    params: VersionParams,
    response: ActiveBundleSchema,
    handler: async ({ identity, params }) => {
      const { version, sha256, bundle } = await deps.store.bundles.version(identity.tenantId, params.version);
      return { version, sha256, bundle };
    },
  });

  api.route({
    method: 'get',
    path: '/api/v1/policies/diff',
    tag: 'policies',
    summary: 'Which policies two versions add, remove or change',
    roles: ADMIN,
    query: DiffQuery,
    response: DiffSchema,
    handler: async ({ identity, query }) => {
      const [from, to] = await Promise.all([
        deps.store.bundles.version(identity.tenantId, query.from),
        deps.store.bundles.version(identity.tenantId, query.to),
      ]);
      return { from: query.from, to: query.to, ...diffBundles(from.bundle, to.bundle) };
    },
  });

  api.route({
    method: 'post',
    path: '/api/v1/policies',
    tag: 'policies',
    summary: "Apply a bundle as the tenant's next version (its tenant_id must be the caller's tenant)",
    roles: ADMIN,
    body: z.record(z.string(), z.unknown()),
    response: ApplyResultSchema,
    handler: async ({ identity, body }) => {
      const r = validateBundle(body);
      if (!r.ok)
        throw new HttpError(
          400,
          'INVALID_BUNDLE',
          'invalid policy bundle',
          r.issues.map((i) => ({ field: `body.${i.path}`, message: i.message })),
        );
      if (r.bundle.tenant_id !== identity.tenantId)
        throw new HttpError(400, 'INVALID_BUNDLE', 'the bundle is for another tenant', [
          { field: 'body.tenant_id', message: `expected "${identity.tenantId}"` },
        ]);
      const sha256 = createHash('sha256').update(canonicalJson(body)).digest('hex');
      return change(deps.pool, async (store, publish) => {
        const { version, changed } = await store.bundles.applyNext({
          tenantId: identity.tenantId,
          bundle: body,
          sha256,
          appliedBy: identity.principal,
        });
        const notice: TenantNotice = { tenant_id: identity.tenantId, kind: 'bundle', version, sha256 };
        publish('policies', identity.tenantId, notice);
        if (changed)
          publish(
            'audit',
            identity.tenantId,
            auditedBy(identity, 'PolicyBundleApplied', 'Applied', {
              version,
              sha256,
              policies: r.bundle.policies.length,
            }),
          );
        return { version, changed, sha256 };
      });
    },
  });
}

function credentialRoutes(api: Api, deps: ApiDeps): void {
  api.route({
    method: 'get',
    path: '/api/v1/credentials',
    tag: 'credentials',
    summary: "The tenant's credentials (public keys), newest first",
    roles: ADMIN,
    response: api.schema('Credential', CredentialSchema).array(),
    handler: async ({ identity }) =>
      (await deps.store.credentials.listByTenant(identity.tenantId)).map((c) => ({
        key_id: c.keyId,
        principal: c.principal,
        public_key_pem: c.publicKeyPem,
        created_at: c.createdAt.toISOString(),
        revoked_at: c.revokedAt?.toISOString() ?? null,
      })),
  });

  api.route({
    method: 'post',
    path: '/api/v1/credentials',
    tag: 'credentials',
    summary: 'A new Ed25519 credential; the private key is in this answer only (stepgate keeps the public half)',
    roles: ADMIN,
    body: CreateCredentialBody,
    response: CreatedCredentialSchema,
    handler: async ({ identity, body }) => {
      const key = generateSigningKey();
      const keyId = `sgk_${identity.tenantId}_${randomBytes(9).toString('base64url')}`;
      await change(deps.pool, async (store, publish) => {
        // Only a new principal: a key for an existing one (the approval gateway, an approver, a linked
        // person) would let an admin sign as them.
        const created = await store.credentials.createPrincipal({
          tenantId: identity.tenantId,
          principal: body.principal,
          roles: body.roles ?? [],
        });
        if (!created) throw principalExists(body.principal);
        await store.credentials.create({
          keyId,
          tenantId: identity.tenantId,
          principal: body.principal,
          publicKeyPem: key.publicKeyPem,
        });
        publish(
          'audit',
          identity.tenantId,
          auditedBy(identity, 'CredentialCreated', 'Created', {
            key_id: keyId,
            principal: body.principal,
            roles: body.roles ?? null,
          }),
        );
      });
      return {
        key_id: keyId,
        tenant_id: identity.tenantId,
        principal: body.principal,
        private_key_pem: key.privateKeyPem,
        public_key_pem: key.publicKeyPem,
      };
    },
  });

  api.route({
    method: 'post',
    path: '/api/v1/credentials/{key_id}/revoke',
    tag: 'credentials',
    summary: 'Revoke a credential of the tenant (evaluators stop accepting it at once)',
    roles: ADMIN,
    params: KeyParams,
    response: OkSchema,
    handler: async ({ identity, params }) => {
      const revoked = await change(deps.pool, async (store, publish) => {
        const existing = await store.credentials.byKeyId(params.key_id);
        if (existing?.tenantId !== identity.tenantId || existing.revokedAt) return false;
        const row = await store.credentials.revoke(params.key_id);
        if (!row) return false;
        publish(
          'audit',
          identity.tenantId,
          auditedBy(identity, 'CredentialRevoked', 'Revoked', { key_id: params.key_id, principal: row.principal }),
        );
        const notice: TenantNotice = {
          tenant_id: identity.tenantId,
          kind: 'credential_revoked',
          key_id: params.key_id,
        };
        publish('policies', identity.tenantId, notice);
        return true;
      });
      if (!revoked) throw notFound(`active credential ${params.key_id}`);
      return { ok: true as const };
    },
  });
}

function settingsRoutes(api: Api, deps: ApiDeps): void {
  const tenant = api.schema('Tenant', TenantSchema);
  api.route({
    method: 'get',
    path: '/api/v1/tenant',
    tag: 'tenant',
    summary: "The tenant's settings",
    roles: ADMIN,
    response: tenant,
    handler: async ({ identity }) => {
      const t = await deps.store.tenants.get(identity.tenantId);
      if (!t) throw notFound('tenant');
      return t;
    },
  });

  api.route({
    method: 'patch',
    path: '/api/v1/tenant',
    tag: 'tenant',
    summary: "Change the tenant's settings (display name, approval timeout)",
    roles: ADMIN,
    body: TenantPatch,
    response: tenant,
    handler: async ({ identity, body }) =>
      change(deps.pool, async (store, publish) => {
        const { before, after } = await store.tenants.update({
          tenantId: identity.tenantId,
          displayName: body.display_name,
          approvalTimeoutSeconds: body.approval_timeout_seconds,
        });
        publish(
          'audit',
          identity.tenantId,
          auditedBy(identity, 'TenantSettingsChanged', 'Changed', {
            display_name: after.display_name,
            approval_timeout_seconds: after.approval_timeout_seconds,
            previous: { display_name: before.display_name, approval_timeout_seconds: before.approval_timeout_seconds },
          }),
        );
        return after;
      }),
  });

  api.route({
    method: 'get',
    path: '/api/v1/alert-thresholds',
    tag: 'tenant',
    summary: "The tenant's alert thresholds (rules not listed use the defaults)",
    roles: ADMIN,
    response: ThresholdSchema.array(),
    handler: async ({ identity }) =>
      (await deps.store.alertThresholds.list({ tenantId: identity.tenantId })).map((t) => ({
        rule: t.rule,
        threshold: t.threshold,
        window_seconds: t.window_seconds,
      })),
  });

  api.route({
    method: 'put',
    path: '/api/v1/alert-thresholds/{rule}',
    tag: 'tenant',
    summary: "Set the tenant's threshold of an alert rule",
    roles: ADMIN,
    params: RuleParams,
    body: ThresholdBody,
    response: ThresholdSchema,
    handler: async ({ identity, params, body }) =>
      change(deps.pool, async (store, publish) => {
        const previous = await store.alertThresholds.set({
          tenantId: identity.tenantId,
          rule: params.rule,
          threshold: body.threshold,
          windowSeconds: body.window_seconds,
        });
        publish(
          'audit',
          identity.tenantId,
          auditedBy(identity, 'AlertThresholdChanged', 'Changed', {
            rule: params.rule,
            threshold: body.threshold,
            window_seconds: body.window_seconds,
            previous,
          }),
        );
        return { rule: params.rule, threshold: body.threshold, window_seconds: body.window_seconds };
      }),
  });

  api.route({
    method: 'delete',
    path: '/api/v1/alert-thresholds/{rule}',
    tag: 'tenant',
    summary: "Reset the tenant's threshold of an alert rule to the default",
    roles: ADMIN,
    params: RuleParams,
    response: OkSchema,
    handler: async ({ identity, params }) => {
      const removed = await change(deps.pool, async (store, publish) => {
        const row = await store.alertThresholds.unset({ tenantId: identity.tenantId, rule: params.rule });
        if (row)
          publish(
            'audit',
            identity.tenantId,
            auditedBy(identity, 'AlertThresholdChanged', 'Reset', {
              rule: params.rule,
              threshold: null,
              window_seconds: null,
              previous: { threshold: row.threshold, window_seconds: row.window_seconds },
            }),
          );
        return row;
      });
      if (!removed) throw notFound(`threshold for ${params.rule}`);
      return { ok: true as const };
    },
  });
}
