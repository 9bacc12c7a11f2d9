import net from 'node:net';
import tls from 'node:tls';

/**
 * A TCP relay on loopback in front of a real service, which the test can sever and restore. With
 * `tls`, it terminates TLS (the secure mode's proxy in front of the plaintext Temporal dev server, so
 * clients' TLS and mTLS run for real).
 */
export class Relay {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  constructor(
    private readonly target: { host: string; port: number },
    private readonly options: { tls?: tls.TlsOptions } = {},
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  async open(): Promise<void> {
    const relay = (inbound: net.Socket) => {
      const outbound = net.connect(this.target);
      for (const s of [inbound, outbound]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      inbound.pipe(outbound).pipe(inbound);
    };
    if (this.options.tls) {
      this.server = tls.createServer(this.options.tls, relay);
      // A refused handshake (no client certificate, an unknown CA) only ends that connection.
      this.server.on('tlsClientError', () => undefined);
    } else this.server = net.createServer(relay);
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server!.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}
