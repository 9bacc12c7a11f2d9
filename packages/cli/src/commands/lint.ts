import { fieldTypeProblems, validateBundle, type ValidationIssue } from '@stepgate/policy-engine';
import { readDocument } from '../files.js';
import { EXIT, type Io } from '../io.js';

/**
 * `stepgate lint`: every problem of the bundle at once, one per line: what validation refuses, then
 * conditions whose operator or value does not fit the field's type (they could never hold).
 */
export async function lintCommand(opts: { bundle: string }, io: Io): Promise<number> {
  const r = validateBundle(await readDocument(opts.bundle, io.cwd));
  const issues: ValidationIssue[] = r.ok ? fieldTypeProblems(r.bundle) : r.issues;
  if (r.ok && issues.length === 0) {
    const b = r.bundle;
    io.out(
      `${opts.bundle}: ok — tenant ${b.tenant_id} (${b.environment}), ${b.policies.length} policies, ${b.tools.length} tools, ${b.delegations.length} delegations\n`,
    );
    return EXIT.ok;
  }
  for (const issue of issues) io.err(`${opts.bundle}: ${issue.path}: ${issue.message}\n`);
  io.err(`${issues.length} problem${issues.length === 1 ? '' : 's'}\n`);
  return EXIT.invalid;
}
