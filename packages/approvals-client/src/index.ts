export {
  Approvers,
  ApprovalRefusedError,
  approverCredential,
  signGatewayStatement,
  type ApprovalListing,
  type ApproverCredential,
  type DecideParams,
} from './approvers.js';
export * from './definitions.js';
