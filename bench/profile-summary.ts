// Where a process's CPU went: the functions with the most self time in a V8 .cpuprofile (what
// `node --cpu-prof` writes), grouped by function and file.
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTime {
  name: string;
  share: number;
}

/** The `top` entries by self time of the newest .cpuprofile in `dir`, shares of all samples but idle. */
export async function topSelfTime(dir: string, top = 12): Promise<SelfTime[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (files.length === 0) return [];
  const dated = await Promise.all(files.map(async (f) => ({ f, t: (await stat(path.join(dir, f))).mtimeMs })));
  const newest = dated.sort((a, b) => b.t - a.t)[0]!.f;
  const profile = JSON.parse(await readFile(path.join(dir, newest), 'utf8')) as CpuProfile;
  const names = new Map(profile.nodes.map((n) => [n.id, label(n)]));
  const micros = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const name = names.get(id)!;
    if (name === '(idle)') return;
    const dt = profile.timeDeltas[i] ?? 0;
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
