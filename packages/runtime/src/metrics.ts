import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';

/** A readiness check: resolves true when the dependency answers. */
export type ReadinessChecks = Record<string, () => boolean | Promise<boolean>>;

export interface OpsServerOptions {
  registry: Registry;
  port: number;
  /** The interface to listen on; loopback unless configured (METRICS_HOST). */
  host?: string;
  /** Fixed JSON documents by path (e.g. the public receipt keys at /receipt-keys). */
  documents?: Readonly<Record<string, unknown>>;
  /** What /readyz checks; each must answer within the timeout. */
  readiness?: ReadinessChecks;
}

const CHECK_TIMEOUT_MS = 2_000;

async function runCheck(check: () => boolean | Promise<boolean>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CHECK_TIMEOUT_MS)));
  try {
    return await Promise.race([Promise.resolve().then(check), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/** Every check's result; ready only when all pass. */
export async function readiness(checks: ReadinessChecks): Promise<{ ready: boolean; checks: Record<string, boolean> }> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, c]) => [name, await runCheck(c)] as const),
  );
  return { ready: entries.every(([, ok]) => ok), checks: Object.fromEntries(entries) };
}

/**
 * A service's operations endpoint: GET /metrics (Prometheus text), /healthz (the process answers),
 * /readyz (200 when every readiness check passes, else 503 with each check's result), and fixed JSON
 * documents at their paths.
 */
export function serveOps(o: OpsServerOptions): Server {
  const bodies = new Map(Object.entries(o.documents ?? {}).map(([route, doc]) => [route, JSON.stringify(doc)]));
  const json = (res: ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  return createServer((req, res) => {
    if (req.method !== 'GET' || !req.url) return void res.writeHead(405).end();
    const body = bodies.get(req.url);
    if (body !== undefined) return void res.writeHead(200, { 'content-type': 'application/json' }).end(body);
    switch (req.url) {
      case '/healthz':
        return json(res, 200, { status: 'alive' });
      case '/readyz':
        return void readiness(o.readiness ?? {}).then((r) => json(res, r.ready ? 200 : 503, r));
      case '/metrics':
        return void o.registry
          .metrics()
          .then((text) => res.writeHead(200, { 'content-type': o.registry.contentType }).end(text));
      default:
        return void res.writeHead(404).end();
    }
  }).listen(o.port, o.host ?? '127.0.0.1');
}
