import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const KAFKA_SECURE_SH = fileURLToPath(new URL('../../infra/local/kafka-secure.sh', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'stepgate-quiet-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A Java program (single-file source mode) that prints its arguments, one per line as hex of their UTF-8
// (an argument may hold a line break), then waits: long enough for the test to read every process's
// command line while it runs. An argument `exit=N` makes it exit with N instead.
const ECHO = join(dir, 'Echo.java');
writeFileSync(
  ECHO,
  `public class Echo { public static void main(String[] a) throws Exception {
    for (String s : a) if (s.startsWith("exit=")) System.exit(Integer.parseInt(s.substring(5)));
    for (String s : a) System.out.println(java.util.HexFormat.of().formatHex(s.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
    System.out.println("end");
    Thread.sleep(4000);
  } }`,
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
  while (!out.includes('end\n') && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
  const seen = commandLinesWith(secret);
  const code = await exited;
  // A JAVA_TOOL_OPTIONS in the environment makes java say so on stderr.
  expect(stderr.split('\n').filter((line) => line && !line.startsWith('Picked up '))).toEqual([]);
  const lines = out.split('\n');
  const printed = lines
    .slice(0, Math.max(0, lines.indexOf('end')))
    .map((hex) => Buffer.from(hex, 'hex').toString('utf8'));
  return { code, printed, seen };
}

describe('local secure broker tools: passwords off the command line', () => {
  it('kafka_secure_java_quiet passes every argument as given, and none of them is on any command line', async () => {
    const secret = `pw-${randomBytes(12).toString('hex')}`;
    const args = [
      'SCRAM-SHA-512=[name=u,password=SECRET]',
      'a b',
      'q"uote',
      "single'quote",
      'back\\slash',
      'trailing\\',
      '',
      'tab\tx',
      'line\nbreak',
      'carriage\rreturn',
      '#not a comment',
      '@not-a-file',
      'ünïcödé',
    ];
    const { code, printed, seen } = await runEcho('kafka_secure_java_quiet', secret, args);
    expect(code).toBe(0);
    expect(printed).toEqual(args.map((a) => a.replace('SECRET', secret)));
    expect(seen).toEqual([]);
  }, 60_000);

  it("passes the tool's exit status on", async () => {
    const { code } = await runEcho('kafka_secure_java_quiet', 'unused', ['exit=3']);
    expect(code).toBe(3);
  }, 60_000);

  it('the check can fail: kafka_secure_java shows the same secret on the command line', async () => {
    const secret = `pw-${randomBytes(12).toString('hex')}`;
    const { code, seen } = await runEcho('kafka_secure_java', secret, ['password=SECRET']);
    expect(code).toBe(0);
    expect(seen.length).toBeGreaterThan(0);
  }, 60_000);

  it('the broker tools that take SCRAM passwords run through it, and psql gets the Postgres password on stdin', () => {
    const script = readFileSync(KAFKA_SECURE_SH, 'utf8');
    expect(script).toMatch(/kafka_secure_java_quiet kafka\.tools\.StorageTool format/);
    expect(script).toMatch(/kafka_secure_java_quiet kafka\.admin\.ConfigCommand/);
    const stack = readFileSync(new URL('../../infra/local/stack.sh', import.meta.url), 'utf8');
    for (const text of [script, stack]) expect(text).not.toMatch(/env \$\(kafka_secure_client_env/);
    // The local Postgres role's password goes to psql on stdin, not in -c.
    const postgres = readFileSync(new URL('../../infra/local/postgres.sh', import.meta.url), 'utf8');
    expect(postgres).not.toMatch(/-c "[^"\n]*PG_PASSWORD/);
    expect(postgres).toMatch(/PG_PASSWORD[^\n]*\|\s*\n\s*as_pg_owner "\$\{psql\[@\]\}" -d postgres$/m);
  });
});
