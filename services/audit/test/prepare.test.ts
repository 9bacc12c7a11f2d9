import { afterAll, describe, expect, it, vi } from 'vitest';
import type { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { newAuditEvent, type AuditEvent } from '@stepgate/contracts';
import { chain, rowHash, type ChainHead } from '@stepgate/audit-log';
import { copyLines, chainedCopy } from '../src/store.js';
import { prepareEvents, prepareValues, preparedEvents, preparedRowHash } from '../src/prepare.js';
import { auditPreparer } from '../src/preparer.js';
import { readAuditEvent } from '../src/intake.js';

const nasty = 'a\tb\nc\rd\\e "q" é 😀 \u2028';
const events: AuditEvent[] = [
  newAuditEvent({ tenant_id: 't1', action: 'GateEvaluated', outcome: 'allow' }),
  {
    ...newAuditEvent({ tenant_id: 't\t2', action: 'GateEvaluated', outcome: nasty }),
    agent_id: nasty,
    inputs_summary: nasty,
    error_code: 'E\\1',
    policies_matched: ['p"1', 'p\\2', 'p\t3'],
    detail: { note: nasty, b: { '10': 1, '9': [1, { z: null, a: 2.5 }] } },
    policy_version: { version: 3, sha256: 'a'.repeat(64) },
  },
  newAuditEvent({ tenant_id: null, action: 'GateEvaluated', outcome: 'block' }),
  newAuditEvent({ tenant_id: 't1', action: 'GateEvaluated', outcome: 'allow' }),
];

const heads = (): Map<string, ChainHead> =>
  new Map([
    ['t1', { seq: 41, rowHash: 'f'.repeat(64) }],
    ['_unattributed', { seq: 7, rowHash: 'not a hash: é' }], // a head not in the usual form still chains the same
  ]);

describe('prepared events', () => {
  it('chain and COPY to the very bytes and hashes of chain() and copyLines()', () => {
    const expectedHeads = heads();
    const expected = copyLines(chain(events, expectedHeads)).join('');
    const actualHeads = heads();
    const copied = Buffer.concat(chainedCopy(prepareEvents(events), actualHeads)).toString('utf8');
    expect(copied).toBe(expected);
    expect(actualHeads).toEqual(expectedHeads);
  });

  it('hash the previous row hash, a newline and the canonical event, whatever the previous hash', () => {
    const [prepared] = prepareEvents([events[1]!]);
    for (const prev of ['0'.repeat(64), 'x', 'é'.repeat(64), '9'.repeat(65)])
      expect(preparedRowHash(prepared!, prev)).toBe(rowHash(prev, events[1]!));
  });

  it('from raw values: the events readAuditEvent accepts, in order, and the refusals with their index', () => {
    const now = Date.now();
    const values = [
      Buffer.from(JSON.stringify(events[0])),
      null,
      Buffer.from('not json'),
      Buffer.from(JSON.stringify(events[1])),
      Buffer.from(JSON.stringify({ ...events[2], id: 'nope' })),
    ];
    const batch = prepareValues(values, now);
    expect(batch.rejected.map((r) => r.index)).toEqual([1, 2, 4]);
    for (const r of batch.rejected) {
      const read = readAuditEvent(values[r.index]!, now);
      expect(read.ok).toBe(false);
      if (!read.ok)
        expect({ reason: r.reason, detail: r.detail }).toEqual({ reason: read.reason, detail: read.detail });
    }
    const prepared = preparedEvents(batch);
    expect(prepared.map((p) => p.index)).toEqual([0, 3]);
    expect(Buffer.concat(chainedCopy(prepared, heads())).toString('utf8')).toBe(
      copyLines(chain([events[0]!, events[1]!], heads())).join(''),
    );
  });
});

describe('the preparing thread', () => {
  const warn = vi.fn();
  const preparer = auditPreparer(1, { warn } as unknown as Logger);
  afterAll(() => preparer.close());

  it('prepares what the calling thread would, batch after batch in reused buffers', async () => {
    await preparer.start();
    const now = Date.now();
    for (let round = 0; round < 4; round++) {
      const values = events.map((e, i) =>
        i === round ? Buffer.from('{') : Buffer.from(JSON.stringify({ ...e, outcome: `${e.outcome} ${round}` })),
      );
      const inThread = await preparer.prepare(values, now);
      const inline = prepareValues(values, now);
      expect(inThread.rejected).toEqual(inline.rejected);
      const copy = (b: typeof inline) => Buffer.concat(chainedCopy(preparedEvents(b), heads())).toString('utf8');
      expect(copy(inThread)).toBe(copy(inline));
      preparer.done(inThread);
    }
    expect(warn).not.toHaveBeenCalled(); // the thread did it: no fall back to the calling thread
  });
});

/** A started thread preparer, a slice of the events, and what the calling thread makes of it. */
async function threadAndSlice(options: Parameters<typeof auditPreparer>[2] = {}) {
  const warn = vi.fn();
  const preparer = auditPreparer(1, { warn } as unknown as Logger, options);
  await preparer.start();
  const now = Date.now();
  const values = events.map((e) => Buffer.from(JSON.stringify(e)));
  const copy = (b: ReturnType<typeof prepareValues>) =>
    Buffer.concat(chainedCopy(preparedEvents(b), heads())).toString('utf8');
  const worker = (preparer as unknown as { worker: Worker }).worker;
  return {
    warn,
    preparer,
    worker,
    copy,
    prepare: () => preparer.prepare(values, now),
    expected: copy(prepareValues(values, now)),
  };
}

describe('a preparing thread that dies', () => {
  it('leaves its slices, and every later one, to the calling thread', async () => {
    const { warn, preparer, worker, copy, prepare, expected } = await threadAndSlice();
    const inFlight = prepare();
    await worker.terminate();
    expect(copy(await inFlight)).toBe(expected);
    expect(copy(await prepare())).toBe(expected);
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]![0]).toMatchObject({ stalled: false });
    await preparer.close();
  });
});

describe('a preparing thread that stops answering', () => {
  it('is given up after the slice timeout: its slice, and every later one, on the calling thread', async () => {
    const { warn, preparer, worker, copy, prepare, expected } = await threadAndSlice({ sliceTimeoutMs: 200 });
    // The thread runs, but its answers no longer reach the caller: a stuck thread, as the caller sees it.
    worker.removeAllListeners('message');
    expect(copy(await prepare())).toBe(expected);
    expect(warn).toHaveBeenCalledOnce();
    expect(warn.mock.calls[0]![0]).toMatchObject({ stalled: true });
    expect(copy(await prepare())).toBe(expected);
    await preparer.close();
  });
});

describe('an event valid by the schema that has no canonical form', () => {
  it('is rejected on its own (to the dlq as not storable); the rest of the slice is prepared', () => {
    const good = newAuditEvent({ tenant_id: 't1', action: 'GateEvaluated', outcome: 'allow' });
    const infinite = JSON.stringify({ ...good, id: crypto.randomUUID(), detail: { x: '@inf@' } }).replace(
      '"@inf@"',
      '1e400',
    );
    const batch = prepareValues([Buffer.from(infinite), Buffer.from(JSON.stringify(good))], Date.now());
    expect(batch.rejected).toEqual([
      { index: 0, reason: 'INVALID_AUDIT_EVENT', detail: expect.stringMatching(/^not storable: /) },
    ]);
    expect(batch.ids).toEqual([good.id]);
    expect(preparedEvents(batch)[0]!.index).toBe(1);
  });
});
