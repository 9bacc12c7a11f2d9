import { Client, Connection } from '@temporalio/client';
import { z } from 'zod';
import {
  APPROVAL_RUN_STATUSES,
  ApprovalRefusedError,
  approverCredential,
  Approvers,
  type ApprovalListing,
  type ApprovalStatus,
  type ApproverCredential,
} from '@stepgate/approvals-client';
import { CliEnvSchema, readSettings, temporalConnectionOptions } from '@stepgate/runtime';
import { parseOrThrow, readDocument } from '../files.js';
import { EXIT, InputError, printable, type Io } from '../io.js';

/** The approvers' Temporal endpoint, from the variables the approvals service reads. */
async function withApprovers<T>(
  fn: (approvers: Approvers) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const e = readSettings('stepgate', CliEnvSchema, env);
  const connection = await Connection.connect(temporalConnectionOptions(e.TEMPORAL_ADDRESS, e));
  try {
    const client = new Client({ connection, namespace: e.TEMPORAL_NAMESPACE });
    return await fn(new Approvers(client, e.STEPGATE_APPROVALS_TASK_QUEUE));
  } finally {
    await connection.close();
  }
}

export async function listApprovals(
  opts: { tenant?: string; status?: string; json?: boolean },
  io: Io,
): Promise<number> {
  if (opts.status !== undefined && !(APPROVAL_RUN_STATUSES as readonly string[]).includes(opts.status))
    throw new InputError(`--status "${opts.status}": expected one of ${APPROVAL_RUN_STATUSES.join(', ')}`);
  const rows = await withApprovers((a) =>
    a.list({
      ...(opts.tenant ? { tenant: opts.tenant } : {}),
      ...(opts.status ? { status: opts.status as ApprovalStatus } : {}),
    }),
  );
  if (opts.json) {
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return EXIT.ok;
  }
  if (rows.length === 0) {
    io.out('no approvals\n');
    return EXIT.ok;
  }
  for (const r of rows) io.out(renderApproval(r));
  return EXIT.ok;
}

/** One approval for people; every string in it came from a request or an approver, so each is `printable`. */
export function renderApproval(r: ApprovalListing): string {
  const p = printable;
  const who = [
    p(r.requested_by.principal),
    r.requested_by.user_id && `user ${p(r.requested_by.user_id)}`,
    r.requested_by.agent_id && `agent ${p(r.requested_by.agent_id)}`,
  ]
    .filter(Boolean)
    .join(', ');
  return (
    [
      `${p(r.approval_id)}  ${p(r.status.toUpperCase())}  tenant ${p(r.tenant_id)}${r.severity ? `  severity ${p(r.severity)}` : ''}`,
      `  step      ${p(r.workflow_id)} / ${p(r.step_id)}${r.step_name ? ` (${p(r.step_name)})` : ''}, ${p(r.step_type)}`,
      `  reason    ${p(r.reason)}`,
      `  policies  ${r.policies_matched.map(p).join(', ') || '-'}`,
      `  requested by ${who}, ${duration(r.age_seconds)} ago${r.status === 'pending' ? `; ${duration(r.time_left_seconds)} left` : ''}`,
      `  inputs    ${p(r.inputs_summary)}`,
      `  digest    ${r.action_digest ? p(r.action_digest) : '- (started before signed approvals; approve signs the digest it reports)'}`,
      '',
    ].join('\n') + '\n'
  );
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** The credential file `stepgate credentials create` writes. */
const CredentialFileSchema = z.object({
  key_id: z.string().min(1),
  tenant_id: z.string().min(1),
  principal: z.string().min(1),
  private_key_pem: z.string().includes('PRIVATE KEY'),
});

export interface DecideOptions {
  key: string;
  comment?: string;
  reason?: string;
  digest?: string;
  /** Deprecated: the principal comes from the key; when given it must match. */
  as?: string;
}

async function loadCredential(file: string, io: Io): Promise<ApproverCredential> {
  const doc = parseOrThrow(CredentialFileSchema, await readDocument(file, io.cwd), `--key ${file}`);
  try {
    return approverCredential(doc);
  } catch (err) {
    throw new InputError(
      `--key ${file}: not an Ed25519 private key (${err instanceof Error ? err.message : String(err)})`,
    );
  }
}

export async function decideApproval(
  kind: 'approve' | 'reject',
  id: string,
  opts: DecideOptions,
  io: Io,
): Promise<number> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
    throw new InputError(`approval id "${id}": expected a UUID`);
  if (opts.digest !== undefined && !/^[0-9a-f]{64}$/.test(opts.digest))
    throw new InputError(`--digest "${opts.digest}": expected 64 lower-case hex digits (approvals list shows it)`);
  const credential = await loadCredential(opts.key, io);
  if (opts.as !== undefined && opts.as !== credential.principal)
    throw new InputError(
      `--as "${opts.as}": the key ${credential.key_id} is ${credential.principal}'s; the signature, not --as, says who decides`,
    );
  const params = { credential, ...(opts.digest ? { actionDigest: opts.digest } : {}) };
  try {
    const state = await withApprovers((a) =>
      kind === 'approve'
        ? a.approve(id, { ...params, comment: opts.comment ?? '' })
        : a.reject(id, { ...params, reason: opts.reason ?? '' }),
    );
    io.out(
      state.status === 'pending'
        ? `approval ${id} (${printable(state.workflow_id)} / ${printable(state.step_id)}) still pending: ${state.approvals?.length ?? 0} of ${state.approvals_required ?? 1} approvals (${(state.approvals ?? []).map((v) => printable(v.principal)).join(', ')})\n`
        : `${state.status} approval ${id} (${printable(state.workflow_id)} / ${printable(state.step_id)}) as ${printable(String(state.decided_by))} with key ${printable(credential.key_id)} at ${state.decided_at}\n`,
    );
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof ApprovalRefusedError)) throw err;
    io.err(`stepgate: ${kind} refused: ${err.code}: ${printable(err.message)}\n`);
    return err.code === 'INVALID_APPROVAL_INPUT' ? EXIT.invalid : EXIT.failed;
  }
}
