import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { generateSigningKey } from '@stepgate/contracts/node';
import { EXIT, type Io } from '../io.js';

/** `stepgate keygen`: an Ed25519 key pair (PKCS#8 private, SPKI public), e.g. the evaluator's receipt key. */
export async function keygenCommand(opts: { private: string; public: string }, io: Io): Promise<number> {
  const key = generateSigningKey();
  await writeFile(path.resolve(io.cwd, opts.private), key.privateKeyPem, { mode: 0o600 });
  await writeFile(path.resolve(io.cwd, opts.public), key.publicKeyPem);
  io.out(`wrote ${opts.private} (mode 0600) and ${opts.public}\n`);
  return EXIT.ok;
}
