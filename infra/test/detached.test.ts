import { execFileSync } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const envScript = fileURLToPath(new URL('../local/env.sh', import.meta.url));
const started: number[] = [];
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid);
    } catch {
      // gone already
    }
  }
});

describe('detached (how the local stack starts its daemons)', () => {
  it('holds none of the starting shell’s open files but stdio, in a session of its own', async () => {
    const held = path.join(tmpdir(), `stepgate-detached-${process.pid}`);
    // fd 7 stands for a lock the caller holds (flock <file> npm test): the daemon must not keep it.
    const pid = Number(
      execFileSync(
        'bash',
        [
          '-c',
          `source "$1"; exec 7>"$2"; detached sleep 30 >/dev/null 2>&1 </dev/null & echo $!`,
          '-',
          envScript,
          held,
        ],
        { encoding: 'utf8' },
      ).trim(),
    );
    started.push(pid);
    // $! is known before the background shell has closed its files and exec'd the daemon.
    await expect.poll(() => readlinkSync(`/proc/${pid}/exe`)).toMatch(/sleep$/);
    // The daemon may still be starting (sleep opens and closes its locale files): its files are read
    // until it holds only stdio, which it never does while it keeps the caller's fd 7.
    await expect.poll(() => openFiles(pid).map((f) => f.fd)).toEqual([0, 1, 2]);
    expect(openFiles(pid).map((f) => f.target)).not.toContain(held);
    // The daemon itself is the pid the shell saw ($!), which the stack's pid files record.
    const [session] = execFileSync('ps', ['-o', 'sid=', '-p', String(pid)], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    expect(Number(session)).toBe(pid);
  });
});

/** A process's open files (one closed while they are read is left out). */
function openFiles(pid: number): Array<{ fd: number; target: string }> {
  return readdirSync(`/proc/${pid}/fd`)
    .flatMap((fd) => {
      try {
        return [{ fd: Number(fd), target: readlinkSync(`/proc/${pid}/fd/${fd}`) }];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.fd - b.fd);
}
