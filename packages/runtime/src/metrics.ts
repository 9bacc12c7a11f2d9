import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/**
 * Serves a registry at GET /metrics (Prometheus text format), and fixed JSON documents at their
 * paths (e.g. the public receipt keys at /receipt-keys).
 */
export function serveMetrics(
  registry: Registry,
  port: number,
  documents: Readonly<Record<string, unknown>> = {},
): Server {
  const bodies = new Map(Object.entries(documents).map(([route, doc]) => [route, JSON.stringify(doc)]));
  return createServer((req, res) => {
    const body = req.method === 'GET' && req.url ? bodies.get(req.url) : undefined;
    if (body !== undefined) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      return;
    }
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  }).listen(port);
}
