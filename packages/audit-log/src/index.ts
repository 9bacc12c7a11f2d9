export { chain, rowHash, GENESIS_HASH, UNATTRIBUTED_TENANT, type ChainHead, type ChainedEvent } from './chain.js';
export { verifyChain, type VerifyReport, type BrokenLink } from './verify.js';
export {
  planRetention,
  applyRetention,
  RetentionFloorError,
  type RetentionPlan,
  type PartitionInfo,
} from './retention.js';
export {
  exportAudit,
  ExportAbortedError,
  type ExportOptions,
  cefLine,
  csvCell,
  csvRow,
  EXPORT_FORMATS,
  CSV_COLUMNS,
  type ExportFormat,
  type ExportFilter,
  type ExportedRow,
} from './export.js';
export { partitionName, utcMonth, monthStart } from './partitions.js';
