import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** Serves a registry at GET /metrics (Prometheus text format). */
export function serveMetrics(registry: Registry, port: number): Server {
  return createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    void registry.metrics().then((text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text));
  }).listen(port);
}
