export {
  Approvers,
  ApprovalRefusedError,
  approverCredential,
  type ApprovalListing,
  type ApproverCredential,
  type DecideParams,
} from './approvers.js';
export * from './definitions.js';
