import { compileBundle } from '@stepgate/policy-engine';
import { bundleOrThrow, parseInstant, parseOrThrow, readDocument } from '../files.js';
import { EXIT, type Io } from '../io.js';
import { evaluateOffline, OfflineGateRequestSchema, UsageSchema } from '../offline.js';

export interface EvalOptions {
  bundle: string;
  request: string;
  now?: string;
  usage?: string;
}

/** `stepgate eval`: the decision JSON on stdout. */
export async function evalCommand(opts: EvalOptions, io: Io): Promise<number> {
  const bundle = bundleOrThrow(await readDocument(opts.bundle, io.cwd), opts.bundle);
  const request = parseOrThrow(OfflineGateRequestSchema, await readDocument(opts.request, io.cwd), opts.request);
  const now = opts.now === undefined ? Date.now() : parseInstant(opts.now, '--now');
  const usage =
    opts.usage === undefined
      ? undefined
      : parseOrThrow(UsageSchema, await readDocument(opts.usage, io.cwd), opts.usage);
  const result = evaluateOffline(compileBundle(bundle), request, now, usage);
  io.out(
    `${JSON.stringify({ tenant_id: request.tenant_id, workflow_id: request.workflow_id, step_id: request.step_id, evaluated_at: new Date(now).toISOString(), ...result }, null, 2)}\n`,
  );
  return EXIT.ok;
}
