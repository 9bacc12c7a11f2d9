import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@stepgate/contracts';
import { generateSigningKey, makeReceipt, privateKeyFromPem } from '@stepgate/contracts/node';
import { testNamespace } from '@stepgate/test';
import { adminCli } from './admin-harness.js';

const ns = testNamespace('cli-admin');
const admin = adminCli(ns, 'admin');
const cli = (args: string[]) => admin.cli(args);
let dir: string;

beforeAll(async () => {
  await admin.setUp();
  dir = admin.dir;
});
afterAll(() => ns.cleanup());

async function topicValues(
  topic: string,
  count: number,
  keep: (value: unknown) => boolean = () => true,
): Promise<unknown[]> {
  const consumer = ns.kafka.consumer({ groupId: `${ns.groupPrefix}read-${Math.random()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values: unknown[] = [];
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ message }) => {
        const value: unknown = JSON.parse(message.value!.toString());
        if (keep(value)) values.push(value);
        if (values.length >= count) resolve();
      },
    });
  });
  await consumer.disconnect();
  return values;
}

describe('stepgate admin commands on real Postgres and Kafka', () => {
  it('credentials create stores only the public key and writes the private key with mode 0600', async () => {
    const r = await cli([
      'credentials',
      'create',
      '--tenant',
      'acme',
      '--principal',
      'alice',
      '--roles',
      'approver,sre',
      '--out',
      'alice.json',
    ]);
    expect(r.code).toBe(0);
    const file = JSON.parse(await readFile(path.join(dir, 'alice.json'), 'utf8')) as {
      key_id: string;
      private_key_pem: string;
      tenant_id: string;
    };
    expect((await stat(path.join(dir, 'alice.json'))).mode & 0o777).toBe(0o600);
    expect(file.tenant_id).toBe('acme');
    expect(file.private_key_pem).toContain('PRIVATE KEY');
    const { rows } = await ns.pool.query(
      'select tenant_id, principal, public_key_pem, revoked_at from credentials where key_id = $1',
      [file.key_id],
    );
    expect(rows[0]).toMatchObject({ tenant_id: 'acme', principal: 'alice', revoked_at: null });
    expect(JSON.stringify(rows[0])).not.toContain('PRIVATE');
    const roles = await ns.pool.query('select roles from principals where tenant_id = $1 and principal = $2', [
      'acme',
      'alice',
    ]);
    expect(roles.rows[0]).toEqual({ roles: ['approver', 'sre'] });

    const revoke = await cli(['credentials', 'revoke', file.key_id]);
    expect(revoke.code).toBe(0);
    expect(
      (
        await ns.pool.query<{ revoked_at: Date | null }>('select revoked_at from credentials where key_id = $1', [
          file.key_id,
        ])
      ).rows[0]!.revoked_at,
    ).toBeInstanceOf(Date);
    expect((await cli(['credentials', 'revoke', file.key_id])).code).toBe(2);
    expect(
      (await cli(['credentials', 'create', '--tenant', 'Not A Tenant', '--principal', 'x', '--out', 'x.json'])).code,
    ).toBe(2);

    const audit = (await topicValues(ns.topics.audit, 2)) as AuditEvent[];
    expect(audit.map((a) => a.action).sort()).toEqual(['CredentialCreated', 'CredentialRevoked']);
  });

  it('apply stores versions, skips an unchanged bundle (announcing it again), refuses an invalid one, and announces on policies', async () => {
    const bundle = { tenant_id: 'globex', environment: 'staging', workflow_access: { mode: 'open' }, policies: [] };
    await writeFile(path.join(dir, 'b.json'), JSON.stringify(bundle));
    expect((await cli(['apply', '--bundle', 'b.json', '--as', 'alice'])).stdout).toContain('version 1');
    expect((await cli(['apply', '--bundle', 'b.json'])).stdout).toContain('unchanged');
    await writeFile(path.join(dir, 'b.json'), JSON.stringify({ ...bundle, environment: 'development' }));
    expect((await cli(['apply', '--bundle', 'b.json'])).stdout).toContain('version 2');
    await writeFile(path.join(dir, 'bad.json'), JSON.stringify({ ...bundle, environment: 'production' }));
    const bad = await cli(['apply', '--bundle', 'bad.json']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('refused in production');

    const { rows } = await ns.pool.query(
      'select version, applied_by from policy_bundles where tenant_id = $1 order by version',
      ['globex'],
    );
    expect(rows).toEqual([
      { version: 1, applied_by: 'alice' },
      { version: 2, applied_by: '' },
    ]);
    const announced = (await topicValues(
      ns.topics.policies,
      3,
      (v) => (v as { tenant_id: string }).tenant_id === 'globex',
    )) as Array<{ tenant_id: string; version: number }>;
    expect(announced.map((a) => a.version)).toEqual([1, 1, 2]);
  });

  it('verify checks a receipt against a public key', async () => {
    const key = generateSigningKey();
    const body = {
      request_id: 'r-1',
      decision_id: '6f0b5b1e-8f5c-4d0a-9a57-3c1f0e4b7d21',
      tenant_id: 'acme',
      workflow_id: 'w',
      step_id: 's',
      decision: 'allow' as const,
      reason: 'ok',
      policies_evaluated: [],
      policies_matched: [],
      retry_context: null,
      decision_source: 'fresh' as const,
      decided_at: '2026-11-18T10:30:00.000Z',
    };
    await writeFile(
      path.join(dir, 'decision.json'),
      JSON.stringify({ ...body, receipt: makeReceipt(body, 'eval-1', privateKeyFromPem(key.privateKeyPem)) }),
    );
    await writeFile(
      path.join(dir, 'tampered.json'),
      JSON.stringify({
        ...body,
        decision: 'block',
        receipt: makeReceipt(body, 'eval-1', privateKeyFromPem(key.privateKeyPem)),
      }),
    );
    await writeFile(path.join(dir, 'eval.pub.pem'), key.publicKeyPem);
    expect(await cli(['verify', 'decision.json', '--public-key', 'eval.pub.pem'])).toMatchObject({
      code: 0,
      stdout: expect.stringContaining('valid'),
    });
    expect(await cli(['verify', 'tampered.json', '--public-key', 'eval.pub.pem'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('INVALID'),
    });

    // Against the keys a service publishes: the key is picked by the receipt's key id.
    const published = (keyId: string) => ({
      keys: [{ key_id: keyId, alg: 'Ed25519', public_key_pem: key.publicKeyPem }],
    });
    const server = createServer((req, res) => {
      const doc =
        req.url === '/receipt-keys' ? published('eval-1') : req.url === '/rotated' ? published('eval-2') : undefined;
      res.writeHead(doc ? 200 : 404, { 'content-type': 'application/json' }).end(JSON.stringify(doc ?? {}));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect(await cli(['verify', 'decision.json', '--keys-url', `${base}/receipt-keys`])).toMatchObject({
        code: 0,
        stdout: expect.stringContaining('signed by eval-1'),
      });
      expect(await cli(['verify', 'tampered.json', '--keys-url', `${base}/receipt-keys`])).toMatchObject({ code: 1 });
      expect(await cli(['verify', 'decision.json', '--keys-url', `${base}/rotated`])).toMatchObject({
        code: 1,
        stderr: expect.stringContaining('publishes no key eval-1'),
      });
      expect(await cli(['verify', 'decision.json', '--keys-url', `${base}/missing`])).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('cannot fetch the receipt keys (HTTP 404)'),
      });
      expect(await cli(['verify', 'decision.json'])).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('expected one of --public-key <pem> and --keys-url <url>'),
      });
    } finally {
      server.close();
    }
    expect((await cli(['keygen', '--private', 'k.pem', '--public', 'k.pub.pem'])).code).toBe(0);
    expect((await stat(path.join(dir, 'k.pem'))).mode & 0o777).toBe(0o600);
  });
  it('credentials link-identity links a person to a principal, audited with who linked it', async () => {
    const issuer = 'https://id.example.com/';
    expect(
      await cli([
        'credentials',
        'link-identity',
        '--tenant',
        'acme',
        '--principal',
        'zoe',
        '--issuer',
        issuer,
        '--identity',
        'zoe@acme.example',
        '--roles',
        'approver',
        '--as',
        'ops-lead',
      ]),
    ).toMatchObject({ code: 0 });
    const { rows } = await ns.pool.query('select tenant_id, principal from principal_identities where issuer = $1', [
      issuer,
    ]);
    expect(rows).toEqual([{ tenant_id: 'acme', principal: 'zoe' }]);
    const [linked] = (await topicValues(
      ns.topics.audit,
      1,
      (v) => (v as AuditEvent).action === 'IdentityLinked',
    )) as AuditEvent[];
    expect(linked).toMatchObject({
      tenant_id: 'acme',
      outcome: 'Linked',
      user_id: 'ops-lead',
      detail: { issuer, identity: 'zoe@acme.example', principal: 'zoe', roles: ['approver'], actor: 'ops-lead' },
    });
  });

  it("alerts set, list and unset a tenant's thresholds, each change audited; bad input is refused by flag", async () => {
    expect(
      await cli([
        'alerts',
        'set',
        '--tenant',
        'acme',
        '--rule',
        'block_spike',
        '--threshold',
        '50',
        '--window',
        '120',
        '--as',
        'ops-lead',
      ]),
    ).toMatchObject({
      code: 0,
      stdout: 'acme: block_spike fires at 50 in 120 s\n',
    });
    expect(
      (await cli(['alerts', 'set', '--tenant', 'acme', '--rule', 'block_spike', '--threshold', '40'])).stdout,
    ).toBe('acme: block_spike fires at 40 in 60 s (was 50 in 120 s)\n');
    const { rows } = await ns.pool.query('select tenant_id, rule, threshold, window_seconds from alert_thresholds');
    expect(rows).toEqual([{ tenant_id: 'acme', rule: 'block_spike', threshold: 40, window_seconds: 60 }]);
    expect(JSON.parse((await cli(['alerts', 'list', '--tenant', 'acme', '--json'])).stdout)).toEqual(rows);

    expect(
      await cli(['alerts', 'set', '--tenant', 'acme', '--rule', 'config_change', '--threshold', '5']),
    ).toMatchObject({ code: 2, stderr: expect.stringContaining('--rule "config_change"') });
    expect(await cli(['alerts', 'set', '--tenant', 'acme', '--rule', 'block_spike', '--threshold', '0'])).toMatchObject(
      { code: 2, stderr: expect.stringContaining('--threshold "0": expected a positive integer') },
    );
    expect(
      await cli(['alerts', 'set', '--tenant', 'acmee', '--rule', 'block_spike', '--threshold', '5']),
    ).toMatchObject({ code: 2, stderr: expect.stringContaining('--tenant "acmee": no such tenant') });

    expect((await cli(['alerts', 'unset', '--tenant', 'acme', '--rule', 'block_spike'])).stdout).toBe(
      'acme: block_spike back to the default (was 40 in 60 s)\n',
    );
    expect((await cli(['alerts', 'unset', '--tenant', 'acme', '--rule', 'block_spike'])).code).toBe(2);
    expect((await cli(['alerts', 'list'])).stdout).toBe('no thresholds set: the service defaults apply\n');

    const changes = (await topicValues(
      ns.topics.audit,
      3,
      (v) => (v as AuditEvent).action === 'AlertThresholdChanged',
    )) as AuditEvent[];
    expect(changes.map((c) => [c.outcome, c.detail.threshold, c.detail.previous])).toEqual([
      ['Changed', 50, null],
      ['Changed', 40, { threshold: 50, window_seconds: 120 }],
      ['Reset', null, { threshold: 40, window_seconds: 60 }],
    ]);
    expect(changes[0]).toMatchObject({ tenant_id: 'acme', user_id: 'ops-lead' });
  });
  it('tenants set and list: display name and approval timeout, each change audited; bad input is refused by flag', async () => {
    expect(
      (
        await cli([
          'tenants',
          'set',
          '--tenant',
          'acme',
          '--display-name',
          'Acme Corp',
          '--approval-timeout',
          '3600',
          '--as',
          'ops-lead',
        ])
      ).stdout,
    ).toBe(
      'acme: display name "Acme Corp", approval timeout 3600 s, no reply_to allowed (was display name "", approval timeout the service default, no reply_to allowed)\n',
    );
    expect((await cli(['tenants', 'set', '--tenant', 'acme', '--approval-timeout', 'default'])).code).toBe(0);
    const { rows } = await ns.pool.query(
      "select display_name, approval_timeout_seconds from tenants where tenant_id = 'acme'",
    );
    expect(rows).toEqual([{ display_name: 'Acme Corp', approval_timeout_seconds: null }]);
    expect(JSON.parse((await cli(['tenants', 'list', '--json'])).stdout)).toContainEqual({
      tenant_id: 'acme',
      display_name: 'Acme Corp',
      approval_timeout_seconds: null,
      reply_to_namespaces: [],
      reply_to_workflow_prefixes: [],
    });
    // reply_to: nothing allowed until the admin names namespaces and workflow-id prefixes.
    expect(
      (
        await cli([
          'tenants',
          'set',
          '--tenant',
          'acme',
          '--reply-to-namespaces',
          'default',
          '--reply-to-prefixes',
          'orchestrator-,deploy-',
        ])
      ).stdout,
    ).toContain('reply_to namespaces default with workflow ids orchestrator-*,deploy-* (was');
    expect(await cli(['tenants', 'set', '--tenant', 'acme', '--reply-to-namespaces', 'a b'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--reply-to-namespaces'),
    });
    expect((await cli(['tenants', 'set', '--tenant', 'acme', '--reply-to-namespaces', 'none'])).stdout).toContain(
      'no reply_to allowed (was',
    );

    expect(await cli(['tenants', 'set', '--tenant', 'acme'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('nothing to set'),
    });
    expect(await cli(['tenants', 'set', '--tenant', 'acme', '--approval-timeout', '-5'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--approval-timeout "-5"'),
    });
    expect(await cli(['tenants', 'set', '--tenant', 'nobody', '--approval-timeout', '60'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--tenant "nobody": no such tenant'),
    });

    const changes = (await topicValues(
      ns.topics.audit,
      4,
      (v) => (v as AuditEvent).action === 'TenantSettingsChanged',
    )) as AuditEvent[];
    expect(
      changes.map((c) => [
        c.detail.approval_timeout_seconds,
        (c.detail.previous as { approval_timeout_seconds: unknown }).approval_timeout_seconds,
      ]),
    ).toEqual([
      [3600, null],
      [null, 3600],
      [null, null],
      [null, null],
    ]);
    expect(changes.map((c) => c.detail.reply_to_namespaces)).toEqual([[], [], ['default'], []]);
    expect(changes[0]).toMatchObject({ tenant_id: 'acme', user_id: 'ops-lead' });
  });
  it("reply_to prefixes must end in a delimiter and may not overlap another tenant's in a shared namespace", async () => {
    await ns.pool.query("insert into tenants (tenant_id) values ('globex') on conflict do nothing");
    const set = (tenant: string, namespaces: string, prefixes: string) =>
      cli(['tenants', 'set', '--tenant', tenant, '--reply-to-namespaces', namespaces, '--reply-to-prefixes', prefixes]);
    expect((await set('acme', 'default', 'acme-')).code).toBe(0);
    // `acme` would also allow `acme2-…`: refused by the CLI, naming the flag.
    expect(await set('globex', 'default', 'acme')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--reply-to-prefixes "acme": a workflow-id prefix must end in one of'),
    });
    // `acme-2-` lies inside acme's `acme-`, and a second `acme-` equals it, in the namespace both allow.
    for (const overlapping of ['acme-2-', 'globex-,acme-'])
      expect(await set('globex', 'default,payments', overlapping)).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('overlaps a prefix of tenant "acme" in namespace "default"'),
      });
    expect((await set('globex', 'payments', 'acme-2-')).code).toBe(0);
    expect((await set('globex', 'default', 'globex-')).code).toBe(0);
  });
  it('link-identity links a principal to at most one identity (one person cannot count twice toward a quorum)', async () => {
    const link = (identity: string, principal: string) =>
      cli([
        'credentials',
        'link-identity',
        '--tenant',
        'acme',
        '--principal',
        principal,
        '--issuer',
        'https://idp.example',
        '--identity',
        identity,
      ]);
    expect((await link('alice@example.com', 'alice')).code).toBe(0);
    expect((await link('alice@example.com', 'alice')).code).toBe(0); // the same link again is fine
    expect(await link('mallory@example.com', 'alice')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--principal: principal "alice" is already linked to another identity'),
    });
    // An identity is linked to exactly one principal: relinking moves it.
    expect((await link('alice@example.com', 'alice-portal')).code).toBe(0);
    const { rows } = await ns.pool.query(
      "select principal from principal_identities where claim_value = 'alice@example.com'",
    );
    expect(rows).toEqual([{ principal: 'alice-portal' }]);
  });

  it('unlink-identity removes the link, audited; the principal can then take another identity; unknown is refused', async () => {
    const identityFlags = (identity: string, tenant = 'acme') => [
      '--tenant',
      tenant,
      '--issuer',
      'https://idp.example',
      '--identity',
      identity,
    ];
    expect(await cli(['credentials', 'unlink-identity', ...identityFlags('nobody@example.com')])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining(
        '--identity: "nobody@example.com" at https://idp.example is linked to no principal',
      ),
    });
    // Another tenant's name unlinks nothing.
    expect((await cli(['credentials', 'unlink-identity', ...identityFlags('alice@example.com', 'globex')])).code).toBe(
      2,
    );
    expect(
      (await cli(['credentials', 'unlink-identity', ...identityFlags('alice@example.com'), '--as', 'ops-lead'])).code,
    ).toBe(0);
    const [unlinked] = (await topicValues(
      ns.topics.audit,
      1,
      (v) => (v as AuditEvent).action === 'IdentityLinked' && (v as AuditEvent).outcome === 'Unlinked',
    )) as AuditEvent[];
    expect(unlinked).toMatchObject({
      tenant_id: 'acme',
      user_id: 'ops-lead',
      detail: { issuer: 'https://idp.example', identity: 'alice@example.com', principal: 'alice-portal' },
    });
    const relink = ['credentials', 'link-identity', '--principal', 'alice-portal', ...identityFlags('ap@example.com')];
    expect((await cli(relink)).code).toBe(0);
  });
});
