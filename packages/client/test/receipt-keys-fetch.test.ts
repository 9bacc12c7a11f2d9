import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { generateSigningKey } from '@stepgate/contracts/node';
import { fetchReceiptKeys, MAX_RECEIPT_KEY_SET_BYTES, ReceiptKeysUnavailableError } from '../src/index.js';

const key = generateSigningKey();
const keySet = JSON.stringify({ keys: [{ key_id: 'k1', alg: 'Ed25519', public_key_pem: key.publicKeyPem }] });
const servers: Server[] = [];

async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/receipt-keys`;
}

afterEach(async () => {
  await Promise.all(
    servers.splice(0).map(
      (s) =>
        new Promise((resolve) => {
          s.close(resolve);
          s.closeAllConnections();
        }),
    ),
  );
});

async function refusal(url: string, timeoutMs?: number): Promise<string> {
  const err = await fetchReceiptKeys(url, timeoutMs === undefined ? {} : { timeoutMs }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(ReceiptKeysUnavailableError);
  return (err as ReceiptKeysUnavailableError).code;
}

describe('fetching receipt keys', () => {
  it('reads a key set from loopback http', async () => {
    const url = await serve((_req, res) => res.end(keySet));
    expect(typeof (await fetchReceiptKeys(url))).toBe('function');
  });

  it.each([
    'http://127.attacker.example/receipt-keys',
    'http://127.0.0.1.attacker.example/receipt-keys',
    'http://localhost.attacker.example/receipt-keys',
    'http://10.0.0.1/receipt-keys',
    'http://[::2]/receipt-keys',
    'ftp://127.0.0.1/receipt-keys',
  ])('refuses plain http to a host that is not loopback by its address: %s', async (url) => {
    expect(await refusal(url)).toBe('INSECURE_URL');
  });

  it('does not follow a redirect, even to a loopback key set', async () => {
    const target = await serve((_req, res) => res.end(keySet));
    const url = await serve((_req, res) => res.writeHead(302, { location: target }).end());
    expect(await refusal(url)).toBe('REDIRECT');
  });

  it('refuses an oversize body, declared or streamed', async () => {
    const big = 'x'.repeat(MAX_RECEIPT_KEY_SET_BYTES + 1);
    const declared = await serve((_req, res) => res.end(big));
    expect(await refusal(declared)).toBe('TOO_LARGE');
    const streamed = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(big.slice(0, 40_000));
      res.end(big.slice(40_000));
    });
    expect(await refusal(streamed)).toBe('TOO_LARGE');
  });

  it('times out on a server that never answers', async () => {
    const url = await serve(() => undefined);
    expect(await refusal(url, 200)).toBe('TIMEOUT');
  });

  it('refuses a body that is not a key set', async () => {
    const url = await serve((_req, res) => res.end('{"keys": "no"}'));
    expect(await refusal(url)).toBe('INVALID_KEY_SET');
  });
});
