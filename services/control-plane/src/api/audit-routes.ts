import { PassThrough } from 'node:stream';
import { ExportAbortedError, exportAudit, type ExportFormat } from '@stepgate/audit-log';
import type { z } from 'zod';
import type { AuditEvent } from '@stepgate/contracts';
import { backendIdentity, cancelBackend, withClient, type Store } from '@stepgate/store';
import type { Api } from './route.js';
import type { ApiDeps } from './deps.js';
import { HttpError } from './errors.js';
import { CONCURRENT_EXPORTS, EXPORT_IDLE_LIMIT_MS, EXPORT_TIME_LIMIT_MS } from './export-limits.js';
import { AuditExportQuery, AuditPageSchema, AuditQuery } from './schemas.js';

const AUDITORS = ['auditor', 'admin'] as const;
const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson',
  cef: 'text/plain; charset=utf-8',
};

/** A page of the tenant's audit events, newest first, and the cursor of the next page (null after the last). */
export async function readAuditPage(
  store: Store,
  tenantId: string,
  q: z.output<typeof AuditQuery>,
): Promise<{ events: Array<{ seq: number; event: AuditEvent }>; next_cursor: string | null }> {
  const events = await store.auditReads.page({
    tenantId,
    from: q.from ? new Date(q.from) : undefined,
    to: q.to ? new Date(q.to) : undefined,
    workflowId: q.workflow_id,
    action: q.action,
    outcome: q.outcome,
    beforeSeq: q.cursor === undefined ? undefined : Number(q.cursor),
    limit: q.limit,
  });
  return { events, next_cursor: events.length === q.limit ? String(events.at(-1)!.seq) : null };
}

/** The tenant's audit trail: pages newest first, and streamed exports (CSV, JSON lines, CEF). */
export function auditRoutes(api: Api, deps: ApiDeps): void {
  /** Tenants with an export running in this process: one each, CONCURRENT_EXPORTS in all. */
  const exporting = new Set<string>();
  api.route({
    method: 'get',
    path: '/api/v1/audit',
    tag: 'audit',
    summary: "The tenant's audit events, newest first; pass next_cursor as cursor for the next page",
    roles: AUDITORS,
    query: AuditQuery,
    response: api.schema('AuditPage', AuditPageSchema),
    handler: async ({ identity, query }) => readAuditPage(deps.store, identity.tenantId, query),
  });

  api.route({
    method: 'get',
    path: '/api/v1/audit/export',
    tag: 'audit',
    summary: "The tenant's audit rows, oldest first, streamed as CSV, JSON lines or CEF",
    roles: AUDITORS,
    query: AuditExportQuery,
    response: { stream: { 'text/csv': 'CSV', 'application/x-ndjson': 'JSON lines', 'text/plain': 'CEF lines' } },
    handler: async ({ identity, query, reply, request }) => {
      // Refused before anything is sent: an export waiting for a connection would answer 200 and then break off.
      if (exporting.has(identity.tenantId))
        throw new HttpError(429, 'EXPORT_IN_PROGRESS', 'an export of this tenant is running; retry when it ends');
      if (exporting.size >= CONCURRENT_EXPORTS)
        throw new HttpError(429, 'EXPORTS_BUSY', `${CONCURRENT_EXPORTS} exports are running; retry in a minute`);
      exporting.add(identity.tenantId);
      const out = new PassThrough();
      // A reader who leaves (or a too long export) ends the export at once: it holds a pooled connection.
      const left = new AbortController();
      reply.raw.once('close', () => left.abort());
      const signal = AbortSignal.any([left.signal, AbortSignal.timeout(EXPORT_TIME_LIMIT_MS)]);
      void reply
        .type(CONTENT_TYPES[query.format])
        .header('content-disposition', `attachment; filename="audit-${identity.tenantId}.${query.format}"`)
        .send(out);
      // A read can wait long on the server (a lock, a long scan): when the export stops meanwhile, its
      // statement is cancelled from a connection of the main pool. The export's connection is then
      // discarded (withClient releases a client whose work failed with the error), so a cancel that
      // lands late never reaches a later export's statement.
      withClient(deps.exportPool, async (client) => {
        const backend = await backendIdentity(client);
        const cancelStatement = () =>
          void cancelBackend(deps.pool, backend).catch((err: unknown) =>
            request.log.warn({ err }, "cancelling a stopped export's statement failed"),
          );
        return exportAudit(
          client,
          {
            tenant: identity.tenantId,
            ...(query.from ? { from: new Date(query.from) } : {}),
            ...(query.to ? { to: new Date(query.to) } : {}),
            ...(query.action ? { action: query.action } : {}),
            ...(query.workflow_id ? { workflow: query.workflow_id } : {}),
          },
          query.format,
          out,
          { signal, cancelStatement, idleTimeoutMs: EXPORT_IDLE_LIMIT_MS },
        );
      })
        .then(
          () => out.end(),
          (err: unknown) => {
            if (err instanceof ExportAbortedError) request.log.warn({ err }, 'audit export stopped');
            else request.log.error({ err }, 'audit export failed');
            out.destroy(err instanceof Error ? err : new Error(String(err)));
          },
        )
        .finally(() => exporting.delete(identity.tenantId));
    },
  });
}
