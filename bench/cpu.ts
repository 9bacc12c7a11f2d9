import { readdirSync, readFileSync } from 'node:fs';

/** Linux's USER_HZ, the unit of /proc's CPU times (100 on every mainstream architecture). */
const TICKS_PER_SECOND = 100;

/** Which processes to count: by command name prefix, or by a word of the command line (a JVM's main class). */
export type ProcessMatch = { command: string } | { argument: string };

/**
 * CPU seconds used so far by the live processes that match, read from /proc; undefined when there
 * is no /proc or no such process (e.g. a service in a container or on another host). Processes that
 * ended between two readings are missing from their difference.
 */
export function processCpuSeconds(match: ProcessMatch): number | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  let ticks = 0;
  let found = false;
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // ended while we read
    }
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    if (
      'command' in match
        ? !stat.slice(open + 1, close).startsWith(match.command)
        : !commandLine(pid).includes(match.argument)
    )
      continue;
    const fields = stat.slice(close + 2).split(' '); // from field 3 (state): utime is field 14, stime 15
    ticks += Number(fields[11]) + Number(fields[12]);
    found = true;
  }
  return found ? ticks / TICKS_PER_SECOND : undefined;
}

/** CPU seconds one process (all its threads) has used so far, from /proc/PID/stat. */
export function pidCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/** CPU seconds of a process's main thread (its event loop, for Node) so far, from /proc/PID/task/PID/stat. */
export function mainThreadCpuSeconds(pid: number): number {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

/** CPU seconds of each thread of a process so far, by thread id (threads that ended are not counted). */
export function threadCpuSeconds(pid: number): Map<number, number> {
  const threads = new Map<number, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`))
    try {
      threads.set(Number(tid), statCpuSeconds(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // it ended between the listing and the read
    }
  return threads;
}

function statCpuSeconds(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

function commandLine(pid: string): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

/** The local Postgres server (postmaster, backends, WAL writer, checkpointer, autovacuum) and Kafka broker. */
export const SERVICES = { postgres: { command: 'postgres' }, broker: { argument: 'kafka.Kafka' } } satisfies Record<
  string,
  ProcessMatch
>;
export type ServiceName = keyof typeof SERVICES;

/** CPU seconds of this process (all its threads: GC, libuv) and of the local services during `work`. */
export async function cpuDuring<T>(
  work: () => Promise<T>,
): Promise<{ result: T; self: number; services: Record<ServiceName, number | undefined> }> {
  const names = Object.keys(SERVICES) as ServiceName[];
  const before = names.map((n) => processCpuSeconds(SERVICES[n]));
  const selfBefore = process.cpuUsage();
  const result = await work();
  const self = process.cpuUsage(selfBefore);
  const after = names.map((n) => processCpuSeconds(SERVICES[n]));
  const services = Object.fromEntries(
    names.map((n, i) => [n, after[i] === undefined || before[i] === undefined ? undefined : after[i] - before[i]]),
  ) as Record<ServiceName, number | undefined>;
  return { result, self: (self.user + self.system) / 1e6, services };
}
