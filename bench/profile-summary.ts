// Where a process's CPU went, from a V8 .cpuprofile (what `node --cpu-prof` writes): the functions
// with the most self time, and the same time by component (the library or stepgate module on whose
// behalf it ran).
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
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

export interface ProfileWindow {
  pid: number;
  /** Monotonic µs, as process.hrtime gives (V8's profile clock on Linux). */
  window: { fromMicros: number; toMicros: number };
}

/** The main thread's profile of process `pid` in `dir`, or undefined when none was written. */
async function readProfile(dir: string, pid: number): Promise<CpuProfile | undefined> {
  const file = (await readdir(dir)).find(
    (f) => f.endsWith('.cpuprofile') && f.split('.')[3] === String(pid) && f.split('.')[4] === '0',
  );
  return file ? (JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile) : undefined;
}

/** Sums the samples taken within the window (idle left out) by `keyOf(sampled node)`, as shares. */
function shares(profile: CpuProfile, of: ProfileWindow, keyOf: (id: number) => string, top: number): SelfTime[] {
  const micros = new Map<string, number>();
  let total = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    at += dt;
    if (at < of.window.fromMicros || at > of.window.toMicros) return;
    const key = keyOf(id);
    if (key === IDLE) return;
    micros.set(key, (micros.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...micros]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, us]) => ({ name, share: us / total }));
}

const IDLE = '(idle)';

/** The `top` functions by self time within the window, as shares of all samples but idle. */
export async function topSelfTime(dir: string, of: ProfileWindow, top = 12): Promise<SelfTime[]> {
  const profile = await readProfile(dir, of.pid);
  if (!profile) return [];
  const names = new Map(profile.nodes.map((n) => [n.id, label(n)]));
  return shares(profile, of, (id) => names.get(id)!, top);
}

/**
 * Self time by component: each sample counts to the nearest frame on its stack that belongs to a
 * package (kafkajs, pg, zod, a stepgate module), so Node's buffer, stream and string work counts to
 * whoever asked for it. GC and V8's own entries stay themselves; what no package asked for is `node`.
 */
export async function selfTimeByComponent(dir: string, of: ProfileWindow, top = 14): Promise<SelfTime[]> {
  const profile = await readProfile(dir, of.pid);
  if (!profile) return [];
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const memo = new Map<number, string>();
  const componentOf = (id: number): string => {
    const known = memo.get(id);
    if (known !== undefined) return known;
    const { functionName, url } = byId.get(id)!.callFrame;
    let component: string;
    if (!url && functionName.startsWith('(')) component = functionName === '(root)' ? 'node' : functionName;
    else component = packageOf(url) ?? (parent.has(id) ? componentOf(parent.get(id)!) : 'node');
    memo.set(id, component);
    return component;
  };
  return shares(profile, of, componentOf, top);
}

/** `kafkajs`, `@node-rs/crc32`, `@stepgate/store`, `services/evaluator`; undefined for Node's own and V8's builtins. */
function packageOf(url: string): string | undefined {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dependency) return dependency[1];
  const own = /\/(packages|services)\/([^/]+)\//.exec(url);
  if (own) return own[1] === 'packages' ? `@stepgate/${own[2]}` : `services/${own[2]}`;
  return undefined;
}

function label(n: ProfileNode): string {
  const { functionName, url } = n.callFrame;
  if (!url) return functionName || '(anonymous)';
  const file = url.replace(/^.*node_modules\//, '').replace(/^.*\/(packages|services)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file}`;
}
