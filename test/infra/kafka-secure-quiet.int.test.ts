import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const KAFKA_SECURE_SH = fileURLToPath(new URL('../../infra/local/kafka-secure.sh', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'stepgate-quiet-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A Java program (single-file source mode) that prints its arguments, one per line, then waits: long
// enough for the test to read every process's command line while it runs.
const ECHO = join(dir, 'Echo.java');
writeFileSync(
  ECHO,
  'public class Echo { public static void main(String[] a) throws Exception { for (String s : a) System.out.println("[" + s + "]"); Thread.sleep(4000); } }',
);

/** Every process's command line that holds `text` (this test's own and its shell's hold none: the secret comes by environment). */
function commandLinesWith(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ');
      if (args.includes(text)) found.push(`${pid}: ${args.slice(0, 300)}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/**
 * Runs `kafka-secure.sh`'s `fn` on Echo with `args` (SECRET in them replaced by the secret, passed by
 * environment), and reads every command line once Echo runs. Returns what Echo printed and the lines seen.
 */
async function runEcho(fn: 'kafka_secure_java' | 'kafka_secure_java_quiet', secret: string, args: string[]) {
  const script = `source "$KAFKA_SECURE_SH"; args=(); for a in "$@"; do args+=("\${a//SECRET/$SECRET}"); done; ${fn} "$ECHO" "\${args[@]}"`;
  const child = spawn('bash', ['-c', script, 'bash', ...args], {
    env: { ...process.env, KAFKA_SECURE_SH, ECHO, SECRET: secret, STEPGATE_STATE_DIR: join(dir, 'state') },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  // Echo prints first, then waits: its arguments are parsed and it is running.
  while (!out.includes('\n') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  const seen = commandLinesWith(secret);
  const code = await exited;
  expect(stderr).toBe('');
  expect(code).toBe(0);
  return { printed: out.trimEnd().split('\n'), seen };
}

describe('local secure broker tools: passwords off the command line', () => {
  it('kafka_secure_java_quiet passes every argument as given, none of them on any command line, and leaves no argument file', async () => {
    const secret = `pw-${randomBytes(12).toString('hex')}`;
    const args = ['SCRAM-SHA-512=[name=u,password=SECRET]', 'a b', 'q"uote', 'back\\slash', '', 'tab\tx'];
    const { printed, seen } = await runEcho('kafka_secure_java_quiet', secret, args);
    expect(printed).toEqual(args.map((a) => `[${a.replace('SECRET', secret)}]`));
    expect(seen).toEqual([]);
    const stateDir = join(dir, 'state', 'kafka-secure');
    expect(existsSync(stateDir) ? readdirSync(stateDir).filter((f) => f.startsWith('java-args.')) : []).toEqual([]);
  }, 60_000);

  it('the check can fail: kafka_secure_java shows the same secret on the command line', async () => {
    const secret = `pw-${randomBytes(12).toString('hex')}`;
    const { seen } = await runEcho('kafka_secure_java', secret, ['password=SECRET']);
    expect(seen.length).toBeGreaterThan(0);
  }, 60_000);

  it('the broker tools that take SCRAM passwords run through it', () => {
    const script = readFileSync(KAFKA_SECURE_SH, 'utf8');
    expect(script).toMatch(/kafka_secure_java_quiet kafka\.tools\.StorageTool format/);
    expect(script).toMatch(/kafka_secure_java_quiet kafka\.admin\.ConfigCommand/);
    const stack = readFileSync(new URL('../../infra/local/stack.sh', import.meta.url), 'utf8');
    for (const text of [script, stack]) expect(text).not.toMatch(/env \$\(kafka_secure_client_env/);
  });
});
