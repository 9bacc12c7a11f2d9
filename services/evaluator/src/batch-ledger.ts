// The batch ledger lives in the store (the only code with SQL on the ledger tables).
export { BatchLedger, ConcurrentFirstGate, type LedgerRow, type StepKey } from '@stepgate/store';
