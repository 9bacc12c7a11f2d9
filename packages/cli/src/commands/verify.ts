import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { GateDecisionSchema, publicKeyFromPem, verifyReceipt } from '@stepgate/contracts';
import { parseOrThrow, readDocument } from '../files.js';
import { EXIT, InputError, type Io } from '../io.js';

/** `stepgate verify`: checks a decision's receipt against the evaluator's public key. */
export async function verifyCommand(file: string, opts: { publicKey: string }, io: Io): Promise<number> {
  const decision = parseOrThrow(GateDecisionSchema, await readDocument(file, io.cwd), file);
  let pem: string;
  try {
    pem = await readFile(path.resolve(io.cwd, opts.publicKey), 'utf8');
  } catch (err) {
    throw new InputError(`${opts.publicKey}: cannot read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  let key;
  try {
    key = publicKeyFromPem(pem);
  } catch {
    throw new InputError(`${opts.publicKey}: not a PEM public key`);
  }
  if (verifyReceipt(decision, key)) {
    io.out(`valid: decision ${decision.decision_id} (${decision.decision}) signed by ${decision.receipt.key_id}\n`);
    return EXIT.ok;
  }
  io.err(`INVALID: the receipt of decision ${decision.decision_id} does not verify with ${opts.publicKey}\n`);
  return EXIT.failed;
}
