import type { ApprovalListing, ApprovalState } from '@stepgate/approvals-client';
import { MIN_APPROVAL_COMMENT_LENGTH } from '@stepgate/approvals-client';
import { AUDIT_ACTIONS, type AuditEvent } from '@stepgate/contracts';
import { quorumProgress } from '../gateway.js';
import { html, type Html } from './html.js';

export function duration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.floor(seconds / 3600)} h ${String(Math.round((seconds % 3600) / 60)).padStart(2, '0')} min`;
}

function requester(a: ApprovalListing): Html {
  const r = a.requested_by;
  return html`${r.principal}${r.agent_id ? html`, agent <code>${r.agent_id}</code>` : ''}${r.user_id ? html`, user <code>${r.user_id}</code>` : ''}`;
}

function step(a: ApprovalListing): Html {
  return html`<code>${a.workflow_id}</code> / <code>${a.step_id}</code>${a.step_name ? html` (${a.step_name})` : ''}`;
}

/** The pending and the decided approvals of the tenant. */
export function approvalsList(pending: ApprovalListing[], decided: ApprovalListing[]): Html {
  const row = (a: ApprovalListing) =>
    html`<tr>
      <td><a href="/approvals/${a.approval_id}">${a.step_name ?? a.step_id}</a></td>
      <td>${step(a)}</td>
      <td>${requester(a)}</td>
      <td>${a.reason}</td>
      <td>${a.policies_matched.join(', ') || '–'}</td>
      <td>${a.status === 'pending' ? duration(a.time_left_seconds) : html`<span class="status">${a.status}</span>`}</td>
    </tr>`;
  const table = (caption: string, rows: ApprovalListing[], last: string) =>
    rows.length
      ? html`<table>
          <caption class="skip">
            ${caption}
          </caption>
          <thead>
            <tr>
              <th scope="col">Step</th>
              <th scope="col">Workflow / step</th>
              <th scope="col">Requested by</th>
              <th scope="col">Reason</th>
              <th scope="col">Policies</th>
              <th scope="col">${last}</th>
            </tr>
          </thead>
          <tbody>
            ${rows.map(row)}
          </tbody>
        </table>`
      : html`<p>None.</p>`;
  return html`<h2>Waiting for a decision (${pending.length})</h2>
    ${table('Pending approvals', pending, 'Time left')}
    <h2>Decided</h2>
    ${table('Decided approvals', decided, 'Outcome')}`;
}

/** Approvals so far of the required, who approved, who may decide and whether it escalated. */
function quorum(state: ApprovalState): Html {
  const q = quorumProgress(state);
  const who = q.approvals.map((v) => `${v.principal} at ${v.approved_at}`).join(', ');
  return html`<dt>Approvals</dt>
    <dd class="quorum">${q.approvals.length} of ${q.approvals_required}${who ? `: ${who}` : ''}</dd>
    <dt>Eligible roles</dt>
    <dd>${q.eligible_roles.join(', ') || '–'}</dd>
    <dt>Escalated</dt>
    <dd>${q.escalated ? html`to ${q.escalated.to_role} at ${q.escalated.at}` : 'no'}</dd>`;
}

/** How a superseded approval had resolved, and that it decided nothing. */
function superseded(x: NonNullable<ApprovalState['superseded']>): Html {
  return html`<dt>Superseded</dt>
    <dd>
      ${x.resolution}, but the step was decided
      again${x.by_decision_id ? html` (decision <code>${x.by_decision_id}</code>)` : ''}: this approval decided nothing
    </dd>`;
}

/** One approval: what is asked, and the decision form while it is pending. */
export function approvalDetail(p: {
  approval: ApprovalListing;
  state: ApprovalState | undefined;
  csrf: string;
  canDecide: boolean;
  message?: { kind: 'notice' | 'error'; text: string } | undefined;
  comment?: string | undefined;
}): Html {
  const a = p.approval;
  const s = p.state;
  return html`${p.message ? html`<p class="${p.message.kind}" role="${p.message.kind === 'error' ? 'alert' : 'status'}">${p.message.text}</p>` : ''}
    <dl>
      <dt>Status</dt>
      <dd><span class="status">${s?.status ?? a.status}</span>${a.severity ? html` · severity ${a.severity}` : ''}</dd>
      ${s?.superseded ? superseded(s.superseded) : ''} ${s ? quorum(s) : ''}
      <dt>Step</dt>
      <dd>${step(a)}, ${a.step_type}</dd>
      <dt>Requested by</dt>
      <dd>${requester(a)}</dd>
      <dt>Reason</dt>
      <dd>${a.reason}</dd>
      <dt>Matched policies</dt>
      <dd>${a.policies_matched.join(', ') || '–'}</dd>
      <dt>Inputs</dt>
      <dd><code>${a.inputs_summary}</code></dd>
      <dt>Action digest</dt>
      <dd class="digest">${a.action_digest ?? '–'}</dd>
      <dt>Requested</dt>
      <dd>${a.requested_at} (${duration(a.age_seconds)} ago)</dd>
      <dt>${a.status === 'pending' ? 'Time left' : 'Expires'}</dt>
      <dd>${a.status === 'pending' ? html`${duration(a.time_left_seconds)} (until ${a.expires_at})` : a.expires_at}</dd>
      ${
        s?.decided_by
          ? html`<dt>Decided by</dt>
              <dd>${s.decided_by} at ${s.decided_at}</dd>
              <dt>Comment</dt>
              <dd>${s.comment}</dd>`
          : ''
      }
    </dl>
    ${
      a.status === 'pending' && p.canDecide
        ? html`<form class="decide" method="post" action="/approvals/${a.approval_id}/decide">
            <input type="hidden" name="_csrf" value="${p.csrf}" />
            <input type="hidden" name="action_digest" value="${a.action_digest ?? ''}" />
            <label for="comment">Comment (required, at least ${MIN_APPROVAL_COMMENT_LENGTH} characters)</label>
            <textarea
              id="comment"
              name="comment"
              required
              minlength="${MIN_APPROVAL_COMMENT_LENGTH}"
              maxlength="2000"
              aria-describedby="comment-help"
            >
${p.comment ?? ''}</textarea>
            <p id="comment-help">
              Your decision is signed by the control plane in your name and recorded in the audit trail.
            </p>
            <button class="approve" type="submit" name="decision" value="approve">Approve</button>
            <button class="reject" type="submit" name="decision" value="reject">Reject</button>
          </form>`
        : a.status === 'pending'
          ? html`<p class="notice">You can see this approval; deciding it needs the approver role.</p>`
          : ''
    }
    <p><a href="/approvals">Back to approvals</a></p>`;
}

export interface AuditSearch {
  from?: string | undefined;
  to?: string | undefined;
  workflow_id?: string | undefined;
  action?: string | undefined;
  outcome?: string | undefined;
}

/** The audit search form and a page of results. */
export function auditPage(p: {
  search: AuditSearch;
  rows: Array<{ seq: number; event: AuditEvent }>;
  nextCursor: string | null;
  error?: string | undefined;
}): Html {
  const s = p.search;
  const more = new URLSearchParams(
    Object.entries({ ...s, cursor: p.nextCursor ?? '' }).filter((e): e is [string, string] => Boolean(e[1])),
  );
  return html`<form method="get" action="/audit">
      <label for="from">From (ISO 8601)</label
      ><input id="from" name="from" value="${s.from ?? ''}" placeholder="2026-01-01T00:00:00Z" />
      <label for="to">To (ISO 8601)</label><input id="to" name="to" value="${s.to ?? ''}" />
      <label for="workflow_id">Workflow</label
      ><input id="workflow_id" name="workflow_id" value="${s.workflow_id ?? ''}" /> <label for="action">Action</label
      ><select id="action" name="action">
        <option value="">any</option>
        ${AUDIT_ACTIONS.map((a) => html`<option${a === s.action ? html` selected` : ''}>${a}</option>`)}
      </select>
      <label for="outcome">Outcome</label><input id="outcome" name="outcome" value="${s.outcome ?? ''}" />
      <div><button class="plain" type="submit">Search</button></div>
    </form>
    ${p.error ? html`<p class="error" role="alert">${p.error}</p>` : ''}
    <table>
      <thead>
        <tr>
          <th scope="col">#</th>
          <th scope="col">Time</th>
          <th scope="col">Action</th>
          <th scope="col">Outcome</th>
          <th scope="col">Workflow / step</th>
          <th scope="col">User</th>
          <th scope="col">Policies</th>
        </tr>
      </thead>
      <tbody>
        ${p.rows.map(
          (r) =>
            html`<tr>
              <td>${r.seq}</td>
              <td>${r.event.timestamp}</td>
              <td>${r.event.action}</td>
              <td>${r.event.outcome}</td>
              <td>
                <code>${r.event.workflow_id ?? ''}</code>
                ${r.event.step_id ? html`/ <code>${r.event.step_id}</code>` : ''}
              </td>
              <td>${r.event.user_id ?? ''}</td>
              <td>${r.event.policies_matched.join(', ')}</td>
            </tr>`,
        )}
      </tbody>
    </table>
    ${p.nextCursor ? html`<p><a href="/audit?${more.toString()}">Older events</a></p>` : ''}`;
}
