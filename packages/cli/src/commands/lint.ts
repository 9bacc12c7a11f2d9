import { validateBundle } from '@stepgate/policy-engine';
import { readDocument } from '../files.js';
import { EXIT, type Io } from '../io.js';

/** `stepgate lint`: every problem of the bundle at once, one per line. */
export async function lintCommand(opts: { bundle: string }, io: Io): Promise<number> {
  const r = validateBundle(await readDocument(opts.bundle, io.cwd));
  if (r.ok) {
    const b = r.bundle;
    io.out(
      `${opts.bundle}: ok — tenant ${b.tenant_id} (${b.environment}), ${b.policies.length} policies, ${b.tools.length} tools, ${b.delegations.length} delegations\n`,
    );
    return EXIT.ok;
  }
  for (const issue of r.issues) io.err(`${opts.bundle}: ${issue.path}: ${issue.message}\n`);
  io.err(`${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}\n`);
  return EXIT.invalid;
}
