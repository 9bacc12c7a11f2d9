// Where a process's CPU went: the functions with the most self time in a V8 .cpuprofile (what
// `node --cpu-prof` writes), grouped by function and file.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  share: number;
}

/**
 * The `top` entries by self time in the .cpuprofile `node --cpu-prof` wrote in `dir` for process `pid`,
 * counting only samples taken within `window` (monotonic µs, as process.hrtime gives: V8's profile
 * clock on Linux), as shares of all those samples but idle.
 */
export async function topSelfTime(
  dir: string,
  of: { pid: number; window: { fromMicros: number; toMicros: number } },
  top = 12,
): Promise<SelfTime[]> {
  const file = (await readdir(dir)).find(
    (f) => f.endsWith('.cpuprofile') && f.split('.')[3] === String(of.pid) && f.split('.')[4] === '0',
  );
  if (!file) return [];
  const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
  const names = new Map(profile.nodes.map((n) => [n.id, label(n)]));
  const micros = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < of.window.fromMicros || at > of.window.toMicros) return;
    const name = names.get(id)!;
    if (name === '(idle)') return;
    micros.set(name, (micros.get(name) ?? 0) + dt);
    total += dt;
  });
  return [...micros]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, share: us / total }));
}

function label(n: ProfileNode): string {
  const { functionName, url } = n.callFrame;
  if (!url) return functionName || '(anonymous)';
  const file = url.replace(/^.*node_modules\//, '').replace(/^.*\/(packages|services)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file}`;
}
