import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditEvent } from '@stepgate/contracts';
import { AuditService } from '@stepgate/audit';
import { OutboxRelay, storeOn } from '@stepgate/store';
import { freePort, testNamespace } from '@stepgate/test';
import { auditConfig } from '../pipeline.js';
import { adminEnv, kafkaPublisher } from '@stepgate/cli';
// The CLI's own test harness (test code: shared, not published).
import { adminCli } from '../../packages/cli/test/admin-harness.js';

const ns = testNamespace('cli-outbox');
const admin = adminCli(ns, 'outbox');
const cli = admin.cli;

beforeAll(() => admin.setUp());
afterAll(() => ns.cleanup());

/** Every message on a topic, read from the beginning until it has been quiet for quietMs. */
async function allValues(topic: string, quietMs = 1_500): Promise<unknown[]> {
  const consumer = ns.kafka.consumer({ groupId: `${ns.groupPrefix}read-${Math.random()}`, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const values: unknown[] = [];
  let last = Date.now();
  const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
  await consumer.run({
    eachMessage: async ({ message }) => {
      values.push(JSON.parse(message.value!.toString()));
      last = Date.now();
    },
  });
  await joined;
  last = Date.now();
  while (Date.now() - last < quietMs) await new Promise((r) => setTimeout(r, 100));
  await consumer.disconnect();
  return values;
}

describe('admin commands write their announcements to the outbox in their transaction', () => {
  it('apply with Kafka unreachable lands the bundle; its notice and audit event are published once when Kafka is back', async () => {
    const bundle = { tenant_id: 'offline', environment: 'staging', workflow_access: { mode: 'open' }, policies: [] };
    await writeFile(path.join(admin.dir, 'b.json'), JSON.stringify(bundle));

    const realBrokers = process.env.KAFKA_BROKERS!;
    process.env.KAFKA_BROKERS = `127.0.0.1:${await freePort()}`; // nothing listens there
    let down;
    try {
      down = await cli(['apply', '--bundle', 'b.json', '--as', 'alice']);
    } finally {
      process.env.KAFKA_BROKERS = realBrokers;
    }
    expect(down.code).toBe(0);
    expect(down.stdout).toContain('tenant offline version 1');
    expect(down.stderr).toContain('stays in the outbox until Kafka is reachable');
    const { rows } = await ns.pool.query('select version, applied_by from policy_bundles where tenant_id = $1', [
      'offline',
    ]);
    expect(rows).toEqual([{ version: 1, applied_by: 'alice' }]);
    expect(await storeOn(ns.pool).outbox.unsentCount()).toBe(2);

    // Kafka is back: the audit service's relay and a CLI's relay race for the rows.
    const audit = new AuditService(
      auditConfig(ns, { housekeeping: { outboxRelayIntervalMs: 100, retentionIntervalMs: 3_600_000 } }),
    );
    await audit.start();
    try {
      const cliRelay = new OutboxRelay({ pool: ns.pool, topics: ns.topics, publish: kafkaPublisher(adminEnv()) });
      await cliRelay.drain();
      for (const end = Date.now() + 20_000; (await storeOn(ns.pool).outbox.unsentCount()) > 0;) {
        if (Date.now() > end) throw new Error('the outbox was not drained');
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await cliRelay.drain()).toBe(0);
    } finally {
      await audit.stop();
    }

    const notices = (await allValues(ns.topics.policies)) as Array<{ tenant_id: string; version: number }>;
    expect(notices.filter((n) => n.tenant_id === 'offline')).toEqual([
      { tenant_id: 'offline', kind: 'bundle', version: 1, sha256: expect.any(String) },
    ]);
    const events = (await allValues(ns.topics.audit)) as AuditEvent[];
    expect(events.filter((e) => e.action === 'PolicyBundleApplied' && e.tenant_id === 'offline')).toHaveLength(1);

    // With Kafka up, a command publishes at once and leaves nothing behind.
    await writeFile(path.join(admin.dir, 'b.json'), JSON.stringify({ ...bundle, environment: 'development' }));
    const up = await cli(['apply', '--bundle', 'b.json']);
    expect(up).toMatchObject({ code: 0, stderr: '' });
    expect(await storeOn(ns.pool).outbox.unsentCount()).toBe(0);
  });

  it('a refused change writes nothing to the outbox', async () => {
    const before = (await ns.pool.query<{ n: number }>('select count(*)::int as n from outbox')).rows[0]!.n;
    expect((await cli(['alerts', 'set', '--tenant', 'nobody', '--rule', 'block_spike', '--threshold', '5'])).code).toBe(
      2,
    );
    expect((await ns.pool.query<{ n: number }>('select count(*)::int as n from outbox')).rows[0]!.n).toBe(before);
  });
});
