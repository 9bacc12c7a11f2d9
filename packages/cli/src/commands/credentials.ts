import type { TenantNotice } from '@stepgate/contracts';
import { randomBytes } from 'node:crypto';
import { chmod, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKey } from '@stepgate/contracts/node';
import { PrincipalAlreadyLinkedError } from '@stepgate/store';
import { adminAudit, adminEnv, cliKafka, withServices } from '../admin/connections.js';
import { EXIT, InputError, type Io } from '../io.js';

const TENANT = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** `stepgate credentials create`: a new Ed25519 key; only the public half is stored. */
export async function createCredential(
  opts: { tenant: string; principal: string; out: string; roles?: string },
  io: Io,
): Promise<number> {
  if (!TENANT.test(opts.tenant)) throw new InputError(`--tenant "${opts.tenant}": expected a lower-case tenant id`);
  const roles = opts.roles
    ? opts.roles
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean)
    : undefined;
  const key = generateSigningKey();
  const keyId = `sgk_${opts.tenant}_${randomBytes(9).toString('base64url')}`;
  const env = adminEnv();
  await withServices(
    env,
    async (store, publish) => {
      await store.tenants.ensure(opts.tenant);
      await store.credentials.upsertPrincipal({ tenantId: opts.tenant, principal: opts.principal, roles });
      await store.credentials.create({
        keyId,
        tenantId: opts.tenant,
        principal: opts.principal,
        publicKeyPem: key.publicKeyPem,
      });
      publish(
        'audit',
        opts.tenant,
        adminAudit('CredentialCreated', opts.tenant, 'Created', {
          key_id: keyId,
          principal: opts.principal,
          roles: roles ?? null,
        }),
      );
    },
    io,
  );
  if (env.tenantDecisionTopics) {
    // The tenant's decisions topic comes with the tenant; its orchestrator's read ACL is the broker admin's.
    const created = await cliKafka(env).withAdmin((a) => a.ensureTenantDecisionTopic(opts.tenant, env.topicPrefix));
    if (created)
      io.err(
        `created the decisions topic of tenant ${opts.tenant}; let its orchestrator's Kafka user read it: ` +
          `npm run -s secure-kafka -- grant-orchestrator --tenant ${opts.tenant} --user <kafka user> (as the broker's admin)\n`,
      );
  }
  const out = path.resolve(io.cwd, opts.out);
  const doc = {
    key_id: keyId,
    tenant_id: opts.tenant,
    principal: opts.principal,
    private_key_pem: key.privateKeyPem,
    public_key_pem: key.publicKeyPem,
  };
  await writeFile(out, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  await chmod(out, 0o600); // the file may have existed with wider permissions
  io.out(`created ${keyId} for ${opts.principal}@${opts.tenant}; private key written to ${opts.out} (mode 0600)\n`);
  return EXIT.ok;
}

export async function revokeCredential(keyId: string, io: Io): Promise<number> {
  const revoked = await withServices(
    adminEnv(),
    async (store, publish) => {
      const row = await store.credentials.revoke(keyId);
      if (row) {
        publish(
          'audit',
          row.tenantId,
          adminAudit('CredentialRevoked', row.tenantId, 'Revoked', { key_id: keyId, principal: row.principal }),
        );
        // Pushed to every evaluator: the revoked key stops working now, not when a cache expires.
        const notice: TenantNotice = { tenant_id: row.tenantId, kind: 'credential_revoked', key_id: keyId };
        publish('policies', row.tenantId, notice);
      }
      return row;
    },
    io,
  );
  if (!revoked) throw new InputError(`no active credential with key id "${keyId}"`);
  io.out(`revoked ${keyId} (${revoked.principal}@${revoked.tenantId})\n`);
  return EXIT.ok;
}

/** `stepgate credentials link-identity`: an OpenID Connect identity signs in to the control plane as a principal. */
export async function linkIdentity(
  opts: { tenant: string; principal: string; issuer: string; identity: string; roles?: string; as?: string },
  io: Io,
): Promise<number> {
  if (!TENANT.test(opts.tenant)) throw new InputError(`--tenant "${opts.tenant}": expected a lower-case tenant id`);
  if (!/^https?:\/\/\S+$/.test(opts.issuer)) throw new InputError(`--issuer "${opts.issuer}": expected the issuer URL`);
  const roles = opts.roles
    ?.split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  await withServices(
    adminEnv(),
    async (store, publish) => {
      await store.tenants.ensure(opts.tenant);
      await store.credentials.upsertPrincipal({ tenantId: opts.tenant, principal: opts.principal, roles });
      await store.identities
        .link({ issuer: opts.issuer, claimValue: opts.identity, tenantId: opts.tenant, principal: opts.principal })
        .catch((err: unknown) => {
          throw err instanceof PrincipalAlreadyLinkedError ? new InputError(`--principal: ${err.message}`) : err;
        });
      publish(
        'audit',
        opts.tenant,
        adminAudit('IdentityLinked', opts.tenant, 'Linked', {
          issuer: opts.issuer,
          identity: opts.identity,
          principal: opts.principal,
          roles: roles ?? null,
          actor: opts.as ?? null,
        }),
      );
    },
    io,
  );
  io.out(`${opts.identity} at ${opts.issuer} signs in as ${opts.principal}@${opts.tenant}\n`);
  return EXIT.ok;
}

/**
 * `stepgate credentials unlink-identity`: the identity no longer signs in to the control plane; its
 * principal's portal sessions end. Audited as IdentityLinked with outcome `Unlinked` (the wire
 * contract has no separate action).
 */
export async function unlinkIdentity(
  opts: { tenant: string; issuer: string; identity: string; as?: string },
  io: Io,
): Promise<number> {
  if (!TENANT.test(opts.tenant)) throw new InputError(`--tenant "${opts.tenant}": expected a lower-case tenant id`);
  let principal: string | undefined;
  await withServices(
    adminEnv(),
    async (store, publish) => {
      principal = await store.identities.unlink({
        issuer: opts.issuer,
        claimValue: opts.identity,
        tenantId: opts.tenant,
      });
      if (!principal) return;
      publish(
        'audit',
        opts.tenant,
        adminAudit('IdentityLinked', opts.tenant, 'Unlinked', {
          issuer: opts.issuer,
          identity: opts.identity,
          principal,
          actor: opts.as ?? null,
        }),
      );
    },
    io,
  );
  if (!principal)
    throw new InputError(
      `--identity: "${opts.identity}" at ${opts.issuer} is linked to no principal of ${opts.tenant}`,
    );
  io.out(`${opts.identity} at ${opts.issuer} no longer signs in as ${principal}@${opts.tenant}\n`);
  return EXIT.ok;
}
