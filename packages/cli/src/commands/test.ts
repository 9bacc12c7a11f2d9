import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { DECISIONS, OfflineGateRequestSchema } from '@stepgate/contracts';
import { compileBundle, type EvaluationResult } from '@stepgate/policy-engine';
import { bundleOrThrow, parseInstant, parseOrThrow, readDocument } from '../files.js';
import { EXIT, InputError, type Io } from '../io.js';
import { evaluateOffline, UsageSchema } from '../offline.js';

/**
 * A policy test file (`*.test.json` / `*.test.yaml`): a bundle (a path relative to the file, or
 * inline) and cases, each a request with the decision it must get — like `opa test`.
 */
const CaseSchema = z
  .object({
    name: z.string().min(1),
    request: OfflineGateRequestSchema,
    now: z.string().optional(),
    usage: UsageSchema.optional(),
    expect: z
      .object({
        decision: z.enum(DECISIONS),
        reason_contains: z.string().optional(),
        policies_matched: z.array(z.string()).optional(),
        decided_by: z.string().optional(),
      })
      .strict(),
  })
  .strict();
const TestFileSchema = z
  .object({
    bundle: z.union([z.string(), z.record(z.string(), z.unknown())]),
    now: z.string().optional(),
    cases: z.array(CaseSchema).min(1),
  })
  .strict();
type Case = z.infer<typeof CaseSchema>;

const TEST_FILE = /\.test\.(json|ya?ml)$/i;

export async function testCommand(dir: string, io: Io): Promise<number> {
  const root = path.resolve(io.cwd, dir);
  const files = (await readdir(root, { recursive: true })).filter((f) => TEST_FILE.test(f)).sort();
  if (files.length === 0) throw new InputError(`${dir}: no policy test files (*.test.json, *.test.yaml)`);
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    const label = path.join(dir, file);
    const spec = parseOrThrow(TestFileSchema, await readDocument(path.join(root, file), io.cwd), label);
    const bundleDoc =
      typeof spec.bundle === 'string'
        ? await readDocument(path.resolve(root, path.dirname(file), spec.bundle), io.cwd)
        : spec.bundle;
    const compiled = compileBundle(bundleOrThrow(bundleDoc, `${label}: bundle`));
    for (const c of spec.cases) {
      const now = parseInstant(c.now ?? spec.now ?? new Date().toISOString(), `${label}: ${c.name}: now`);
      const problems = mismatches(c, evaluateOffline(compiled, c.request, now, c.usage));
      if (problems.length === 0) {
        passed++;
        io.out(`PASS ${label} › ${c.name}\n`);
      } else {
        failed++;
        io.out(`FAIL ${label} › ${c.name}\n${problems.map((p) => `     ${p}\n`).join('')}`);
      }
    }
  }
  io.out(`${passed} passed, ${failed} failed\n`);
  return failed === 0 ? EXIT.ok : EXIT.failed;
}

function mismatches(c: Case, r: EvaluationResult): string[] {
  const out: string[] = [];
  if (r.decision !== c.expect.decision)
    out.push(`decision: expected ${c.expect.decision}, got ${r.decision} (${r.reason})`);
  if (
    c.expect.reason_contains !== undefined &&
    !r.reason.toLowerCase().includes(c.expect.reason_contains.toLowerCase())
  )
    out.push(`reason: expected it to contain "${c.expect.reason_contains}", got "${r.reason}"`);
  if (c.expect.decided_by !== undefined && r.decided_by !== c.expect.decided_by)
    out.push(`decided_by: expected ${c.expect.decided_by}, got ${r.decided_by}`);
  if (c.expect.policies_matched !== undefined) {
    const got = r.policies_matched.map((p) => p.policy_name).sort();
    const want = [...c.expect.policies_matched].sort();
    if (JSON.stringify(got) !== JSON.stringify(want))
      out.push(`policies_matched: expected [${want.join(', ')}], got [${got.join(', ')}]`);
  }
  return out;
}
