import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { KeyObject } from 'node:crypto';
import { GateDecisionSchema, ReceiptKeySetSchema } from '@stepgate/contracts';
import type { SignedApprovalStatement } from '@stepgate/contracts';
import { publicKeyFromPem, verifyApprovalStatement, verifyReceipt } from '@stepgate/contracts/node';
import { parseOrThrow, readDocument } from '../files.js';
import { EXIT, InputError, type Io } from '../io.js';

/**
 * `stepgate verify`: checks a decision's receipt against a public key file, or against the keys a
 * service publishes (`--keys-url http://evaluator:9464/receipt-keys`), picking the one the receipt names.
 */
export async function verifyCommand(
  file: string,
  opts: { publicKey?: string; keysUrl?: string },
  io: Io,
): Promise<number> {
  if ((opts.publicKey === undefined) === (opts.keysUrl === undefined))
    throw new InputError('expected one of --public-key <pem> and --keys-url <url>');
  const doc = await readDocument(file, io.cwd);
  const evidence = approvalEvidence(doc);
  if (evidence) return verifyStatement(evidence, file, opts, io);
  const decision = parseOrThrow(GateDecisionSchema, doc, file);
  const source = opts.publicKey ?? opts.keysUrl!;
  const key =
    opts.publicKey !== undefined
      ? await keyFromFile(opts.publicKey, io)
      : await publishedKey(opts.keysUrl!, decision.receipt.key_id);
  if (key && verifyReceipt(decision, key)) {
    io.out(`valid: decision ${decision.decision_id} (${decision.decision}) signed by ${decision.receipt.key_id}\n`);
    return EXIT.ok;
  }
  io.err(
    `INVALID: the receipt of decision ${decision.decision_id} does not verify with ${source}${key ? '' : ` (it publishes no key ${decision.receipt.key_id})`}\n`,
  );
  return EXIT.failed;
}

async function keyFromFile(file: string, io: Io): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path.resolve(io.cwd, file), 'utf8');
  } catch (err) {
    throw new InputError(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  try {
    return publicKeyFromPem(pem);
  } catch {
    throw new InputError(`${file}: not a PEM public key`);
  }
}

/** The published key with the receipt's key id, or undefined when the service lists no such key. */
async function publishedKey(url: string, keyId: string): Promise<KeyObject | undefined> {
  let body: unknown;
  try {
    const res = await fetch(url);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = await res.json();
  } catch (err) {
    throw new InputError(
      `--keys-url ${url}: cannot fetch the receipt keys (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  const keys = ReceiptKeySetSchema.safeParse(body);
  if (!keys.success)
    throw new InputError(`--keys-url ${url}: not a receipt key set ({"keys": [{key_id, alg, public_key_pem}]})`);
  const entry = keys.data.keys.find((k) => k.key_id === keyId);
  return entry && publicKeyFromPem(entry.public_key_pem);
}

/** A signed approval statement: itself, an approval's state or result (`evidence`), or its audit event (`detail.evidence`). */
function approvalEvidence(doc: unknown): SignedApprovalStatement | undefined {
  const candidates = [doc, field(doc, 'evidence'), field(field(doc, 'detail'), 'evidence')];
  for (const c of candidates) {
    const statement = field(c, 'statement');
    const signature = field(c, 'signature');
    if (statement && typeof statement === 'object' && typeof signature === 'string')
      return { statement: statement as SignedApprovalStatement['statement'], signature };
  }
  return undefined;
}

function field(value: unknown, name: string): unknown {
  return value && typeof value === 'object' ? (value as Record<string, unknown>)[name] : undefined;
}

/** `stepgate verify <approval evidence> --public-key <the approver's public key>`: who approved what with which key. */
async function verifyStatement(
  signed: SignedApprovalStatement,
  file: string,
  opts: { publicKey?: string; keysUrl?: string },
  io: Io,
): Promise<number> {
  if (opts.publicKey === undefined)
    throw new InputError(`${file}: an approval statement is checked with --public-key <the approver's public key PEM>`);
  const key = await keyFromFile(opts.publicKey, io);
  const s = signed.statement;
  let valid = false;
  try {
    valid = verifyApprovalStatement(signed, key);
  } catch {
    valid = false;
  }
  if (valid) {
    io.out(
      `valid: ${String(s.decision)} of approval ${String(s.approval_id)} (action digest ${String(s.action_digest)}) signed with ${String(s.key_id)} at ${String(s.signed_at)}\n`,
    );
    return EXIT.ok;
  }
  io.err(`INVALID: the approval statement in ${file} does not verify with ${opts.publicKey}\n`);
  return EXIT.failed;
}
