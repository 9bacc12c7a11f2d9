import { compileBundle } from '@stepgate/policy-engine';
import type { InputWindow, Store } from '@stepgate/store';
import { adminEnv, withServices } from '../admin/connections.js';
import { bundleOrThrow, parseInstant, readDocument } from '../files.js';
import { EXIT, InputError, type Io } from '../io.js';
import { ReplayTally, renderReplay, type ReplayReport } from '../replay.js';

export interface ReplayOptions {
  tenant: string;
  bundle: string;
  from?: string;
  to?: string;
  workflow?: string;
  format?: string;
}

/** Rows read per cursor fetch: the replay's memory is one batch of recorded inputs. */
const BATCH = 500;

/**
 * `stepgate replay`: re-evaluates the recorded engine inputs of a window against a draft bundle with
 * the same pure engine, and reports what would change. Progress on stderr.
 */
export async function replayCommand(opts: ReplayOptions, io: Io): Promise<number> {
  const format = opts.format ?? 'text';
  if (format !== 'text' && format !== 'json') throw new InputError(`--format "${format}": expected text or json`);
  const bundle = bundleOrThrow(await readDocument(opts.bundle, io.cwd), opts.bundle);
  if (bundle.tenant_id !== opts.tenant)
    throw new InputError(`${opts.bundle} is tenant "${bundle.tenant_id}"'s bundle, not "${opts.tenant}"'s`);
  const window: InputWindow = {
    tenantId: opts.tenant,
    ...(opts.from ? { from: new Date(parseInstant(opts.from, '--from')) } : {}),
    ...(opts.to ? { to: new Date(parseInstant(opts.to, '--to')) } : {}),
    ...(opts.workflow ? { workflowId: opts.workflow } : {}),
  };
  const report = await withServices(adminEnv(), (store) => replayWindow(store, window, compileBundle(bundle), io));
  io.out(format === 'json' ? `${JSON.stringify({ tenant_id: opts.tenant, ...report })}\n` : renderReplay(report));
  return EXIT.ok;
}

/** Replays a window through a cursor, drawing a progress bar on stderr. */
export async function replayWindow(
  store: Store,
  window: InputWindow,
  draft: ReturnType<typeof compileBundle>,
  io: Pick<Io, 'err'>,
): Promise<ReplayReport> {
  const total = await store.gateInputs.count(window);
  const tally = new ReplayTally(draft);
  const progress = progressBar(total, io);
  for await (const rows of store.gateInputs.scan(window, BATCH)) {
    for (const row of rows) tally.add(row);
    progress(tally.report.decisions);
  }
  progress(tally.report.decisions, true);
  return tally.report;
}

/** A redrawn `[####······] n/total` line on stderr, at most every 250 ms. */
function progressBar(total: number, io: Pick<Io, 'err'>): (done: number, last?: boolean) => void {
  let drawn = 0;
  return (done, last = false) => {
    if (total === 0 || (!last && Date.now() - drawn < 250)) return;
    drawn = Date.now();
    const width = 30;
    const filled = Math.round((done / total) * width);
    io.err(`\r[${'#'.repeat(filled)}${'·'.repeat(width - filled)}] ${done}/${total}${last ? '\n' : ''}`);
  };
}
