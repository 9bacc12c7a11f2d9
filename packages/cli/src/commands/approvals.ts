import { Client, Connection } from '@temporalio/client';
import { ApprovalRefusedError, Approvers, type ApprovalListing, type ApprovalStatus } from '@stepgate/approvals-client';
import { CliEnvSchema, readSettings } from '@stepgate/runtime';
import { EXIT, InputError, printable, type Io } from '../io.js';

const STATUSES: readonly ApprovalStatus[] = ['pending', 'approved', 'rejected', 'expired'];

/** The approvers' Temporal endpoint, from the variables the approvals service reads. */
async function withApprovers<T>(
  fn: (approvers: Approvers) => Promise<T>,
  env: NodeJS.ProcessEnv = process.env,
): Promise<T> {
  const e = readSettings('stepgate', CliEnvSchema, env);
  const connection = await Connection.connect({ address: e.TEMPORAL_ADDRESS });
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
  if (opts.status !== undefined && !STATUSES.includes(opts.status as ApprovalStatus))
    throw new InputError(`--status "${opts.status}": expected one of ${STATUSES.join(', ')}`);
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
      '',
    ].join('\n') + '\n'
  );
}

function duration(seconds: number): string {
  if (seconds < 120) return `${seconds}s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)}m`;
  return `${Math.floor(seconds / 3600)}h${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

export async function decideApproval(
  kind: 'approve' | 'reject',
  id: string,
  opts: { as: string; comment?: string; reason?: string },
  io: Io,
): Promise<number> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id))
    throw new InputError(`approval id "${id}": expected a UUID`);
  try {
    const state = await withApprovers((a) =>
      kind === 'approve' ? a.approve(id, opts.as, opts.comment ?? '') : a.reject(id, opts.as, opts.reason ?? ''),
    );
    io.out(
      `${state.status} approval ${id} (${printable(state.workflow_id)} / ${printable(state.step_id)}) as ${printable(String(state.decided_by))} at ${state.decided_at}\n`,
    );
    return EXIT.ok;
  } catch (err) {
    if (!(err instanceof ApprovalRefusedError)) throw err;
    io.err(`stepgate: ${kind} refused: ${err.code}: ${printable(err.message)}\n`);
    return err.code === 'INVALID_APPROVAL_INPUT' ? EXIT.invalid : EXIT.failed;
  }
}
