import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selfTimeByComponent, topSelfTime } from '../profile-summary.js';

const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0 });

// root → kafkajs encode → node:buffer copy; root → store flush → JSON.stringify (a builtin);
// root → GC; root → socket read (Node's own, no package above it); idle.
const profile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 4, 6, 7, 8] },
    { id: 2, callFrame: frame('encode', 'file:///x/node_modules/kafkajs/src/protocol/encoder.js'), children: [3] },
    { id: 3, callFrame: frame('_copyActual', 'node:buffer') },
    { id: 4, callFrame: frame('flush', 'file:///x/packages/store/src/batch-ledger.ts'), children: [5] },
    { id: 5, callFrame: frame('stringify') },
    { id: 6, callFrame: frame('(garbage collector)') },
    { id: 7, callFrame: frame('onStreamRead', 'node:internal/stream_base_commons') },
    { id: 8, callFrame: frame('(idle)') },
  ],
  startTime: 1_000,
  samples: [3, 3, 5, 2, 6, 7, 8, 8, 3],
  timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10, 10],
};

describe('profile summaries', () => {
  let dir: string;
  const pid = 4242;
  const all = { pid, window: { fromMicros: 0, toMicros: 2_000 } };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'profile-'));
    await writeFile(path.join(dir, `CPU.20261202.000000.${pid}.0.001.cpuprofile`), JSON.stringify(profile));
  });
  afterAll(() => rm(dir, { recursive: true }));

  it('counts Node’s and V8’s work to the package that asked for it; idle is left out', async () => {
    const shares = Object.fromEntries((await selfTimeByComponent(dir, all)).map((s) => [s.name, s.share]));
    expect(shares).toEqual({
      kafkajs: 4 / 7,
      '@stepgate/store': 1 / 7,
      '(garbage collector)': 1 / 7,
      node: 1 / 7,
    });
  });

  it('counts only the samples inside the window', async () => {
    // Samples end at 1,010 … 1,090: the first two are both the buffer copy under kafkajs.
    const first = await selfTimeByComponent(dir, { pid, window: { fromMicros: 0, toMicros: 1_020 } });
    expect(first).toEqual([{ name: 'kafkajs', share: 1 }]);
  });

  it('lists the functions by their own self time', async () => {
    const top = await topSelfTime(dir, all, 1);
    expect(top).toEqual([{ name: '_copyActual node:buffer', share: 3 / 7 }]);
  });

  it('answers nothing for a process without a profile', async () => {
    expect(await selfTimeByComponent(dir, { ...all, pid: 1 })).toEqual([]);
  });
});
