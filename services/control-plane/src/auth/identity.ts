import type { IdentitiesRepository } from '@stepgate/store';
import type { OidcSettings } from '../config.js';

export const ROLES = ['admin', 'approver', 'auditor', 'viewer'] as const;
export type Role = (typeof ROLES)[number];
/** Who may see a tenant's approvals: anyone holding a stepgate role (a signed-in identity may hold none). */
export const APPROVAL_READERS: readonly Role[] = ROLES;

/** A proven person: the provider's token or session says who, stepgate's mapping says as whom. */
export interface Identity {
  tenantId: string;
  principal: string;
  roles: Role[];
  issuer: string;
  subject: string;
  /** The configured claim's value: with `issuer`, the link (`principal_identities`) this identity acts by. */
  claimValue: string;
}

/** Why a verified token names no principal (answered 403: authenticated, not allowed). */
export class UnmappedIdentityError extends Error {
  readonly code = 'NOT_A_PRINCIPAL';
  constructor(message: string) {
    super(message);
    this.name = 'UnmappedIdentityError';
  }
}

/** The principal claim is `email` and the provider does not vouch for it (answered 401). */
export class UnverifiedEmailError extends Error {
  readonly code = 'EMAIL_NOT_VERIFIED';
  constructor() {
    super('the identity provider does not say this email is verified (email_verified)');
    this.name = 'UnverifiedEmailError';
  }
}

const isRole = (r: string): r is Role => (ROLES as readonly string[]).includes(r);

/**
 * Maps verified claims to a principal of a tenant: the configured claim's value, linked in
 * `principal_identities`. Roles are the principal's, or the groups claim's where configured. The
 * tenant never comes from the token.
 */
export async function identityFromClaims(
  claims: Record<string, unknown>,
  oidc: OidcSettings,
  identities: IdentitiesRepository,
): Promise<Identity> {
  const issuer = claims.iss;
  const subject = claims.sub;
  const value = claims[oidc.principalClaim];
  if (typeof issuer !== 'string' || typeof subject !== 'string' || typeof value !== 'string' || value === '')
    throw new UnmappedIdentityError(`the token has no ${oidc.principalClaim} claim`);
  // An unverified email is whatever the person typed at the provider: never a proof of who they are.
  if (oidc.principalClaim === 'email' && claims.email_verified !== true) throw new UnverifiedEmailError();
  const link = await identities.resolve({ issuer, claimValue: value });
  if (!link) throw new UnmappedIdentityError('this identity is not linked to a stepgate principal');
  return {
    tenantId: link.tenantId,
    principal: link.principal,
    roles: rolesOf(claims, link.roles, oidc),
    issuer,
    subject,
    claimValue: value,
  };
}

function rolesOf(claims: Record<string, unknown>, principalRoles: string[], oidc: OidcSettings): Role[] {
  if (!oidc.groupsClaim) return principalRoles.filter(isRole);
  const groups = claims[oidc.groupsClaim];
  if (!Array.isArray(groups)) return [];
  return groups
    .filter((g): g is string => typeof g === 'string' && g.startsWith(oidc.groupsPrefix))
    .map((g) => g.slice(oidc.groupsPrefix.length))
    .filter(isRole);
}
