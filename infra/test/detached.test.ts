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
    const open = readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`));
    expect(open).not.toContain(held);
    expect(readdirSync(`/proc/${pid}/fd`).map(Number).sort()).toEqual([0, 1, 2]);
    // The daemon itself is the pid the shell saw ($!), which the stack's pid files record.
    const [session] = execFileSync('ps', ['-o', 'sid=', '-p', String(pid)], { encoding: 'utf8' })
      .trim()
      .split(/\s+/);
    expect(Number(session)).toBe(pid);
  });
});
