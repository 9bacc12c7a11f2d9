export { Approvers, ApprovalRefusedError, type ApprovalListing } from './approvers.js';
export * from './definitions.js';
