import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type Io } from '../src/index.js';

/** The repository root (examples live there). */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** Runs the CLI in-process in `cwd`, capturing what it prints. */
export async function cli(args: string[], cwd = REPO) {
  let stdout = '';
  let stderr = '';
  const io: Io = { out: (t) => void (stdout += t), err: (t) => void (stderr += t), cwd };
  const code = await run(args, io);
  return { code, stdout, stderr };
}

/** A temporary folder holding `files` (objects written as JSON). */
export async function scratch(files: Record<string, unknown>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'stepgate-cli-'));
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  }
  return dir;
}
