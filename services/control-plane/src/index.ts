export { ControlPlane } from './service.js';
export { configFromEnv, type ControlPlaneConfig, type OidcSettings } from './config.js';
export { startDevProvider, type DevProvider, type DevProviderOptions, type DevUser } from './dev-provider.js';
export { ROLES, type Identity, type Role } from './auth/identity.js';
