import pg from 'pg';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { GateRequest } from '@stepgate/contracts';
import { CommitOutcomeUnknown, type StepKey } from '@stepgate/store';
import { DecideStage, type DecideStageDeps, type RedoTimer } from '../src/decide.js';
import type { GateOutcome } from '../src/gate.js';
import { GroupCommit } from '../src/group-commit.js';
import type { Intake } from '../src/intake.js';

// The redo and split around the decide transaction, against scripted transaction outcomes: which
// batches Postgres refuses, for what reason, and whether it answers at all.

const REDO_FOR_MS = 10_000;
/** What each scripted transaction costs in virtual time. */
const TRANSACTION_MS = 5;

/** Virtual time: a wait moves the clock on after the event loop's turn (so a test can act between waits). */
class VirtualTimer implements RedoTimer {
  t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    await nextTurn();
    this.t += ms;
  }
}

const nextTurn = () => new Promise((r) => setImmediate(r));

function databaseError(code: string): pg.DatabaseError {
  return Object.assign(new pg.DatabaseError('refused', 0, 'error'), { code });
}

type Script = (steps: string[]) => Error | undefined;

/** A stage whose transaction fails as `script` says for the batch's steps, and otherwise allows all. */
class ScriptedDecideStage extends DecideStage {
  readonly transactions: string[][] = [];
  /** The time each transaction decided at. */
  readonly decidedAt: number[] = [];
  answers = true;
  /** What the read-only probe finds: a standby, or a node read-only by default. */
  readOnlyNode = false;
  private readonly timer: VirtualTimer;

  constructor(
    private readonly script: Script,
    options: { timer: VirtualTimer; redoUnwritableForMs?: number },
  ) {
    const stage: { answers: boolean; readOnlyNode: boolean } = { answers: true, readOnlyNode: false };
    const pool = {
      connect: async () => ({ on() {}, off() {}, release() {} }),
      query: async (text: string) => {
        if (!stage.answers) throw new Error('connect ECONNREFUSED');
        return { rows: text.includes('pg_is_in_recovery') ? [{ read_only: stage.readOnlyNode }] : [] };
      },
    } as unknown as pg.Pool;
    super({ pool, log: pino({ level: 'silent' }), ...options } as unknown as DecideStageDeps);
    this.timer = options.timer;
    Object.defineProperty(this, 'answers', {
      get: () => stage.answers,
      set: (v: boolean) => (stage.answers = v),
    });
    Object.defineProperty(this, 'readOnlyNode', {
      get: () => stage.readOnlyNode,
      set: (v: boolean) => (stage.readOnlyNode = v),
    });
  }

  protected override async transaction(
    _client: pg.PoolClient,
    intakes: Array<Intake<GateRequest>>,
    _keys: StepKey[],
    now: number,
  ): Promise<Array<GateOutcome | undefined>> {
    const steps = intakes.map((i) => (i.kind === 'accepted' ? i.body.step_id : ''));
    this.transactions.push(steps);
    this.decidedAt.push(now);
    this.timer.t += TRANSACTION_MS;
    const failure = this.script(steps);
    if (failure) throw failure;
    return intakes.map(() => ({ body: { decision: 'allow' }, redelivered: false }) as unknown as GateOutcome);
  }
}

let n = 0;
function accepted(step: string): Intake<GateRequest> {
  const id = `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`;
  return {
    kind: 'accepted',
    attribution: {
      id,
      workflow_id: 'wf',
      step_id: step,
      echo: { agent_id: null, session_id: null, user_id: null, claimed_tenant_id: null, requested_at: null },
      doc: null,
      request_sha256: 'a'.repeat(64),
      key_id: 'key-00000001',
    },
    credential: { tenantId: 'acme', principal: 'orchestrator' },
    body: { workflow_id: 'wf', step_id: step, request_id: id },
  } as unknown as Intake<GateRequest>;
}

const decisions = (outcomes: Array<GateOutcome | undefined>) =>
  outcomes.map((o) => (o?.body.error ? `block:${o.body.error.code}` : o?.body.decision));

/** Fails any batch holding one of `steps` with `code`. */
const failingWith =
  (code: string, ...steps: string[]): Script =>
  (batch) =>
    batch.some((s) => steps.includes(s)) ? databaseError(code) : undefined;

describe('decide: a batch Postgres refuses for its own reasons', () => {
  it('is redone while the refusal lasts, then decided once Postgres writes again: nothing blocked', async () => {
    const timer = new VirtualTimer();
    let readOnly = true;
    const stage = new ScriptedDecideStage(() => (readOnly ? databaseError('25006') : undefined), { timer });
    const pending = stage.decide([accepted('a'), accepted('b')], 0);
    while (timer.now() < 3_000) await nextTurn();
    readOnly = false;
    expect(decisions(await pending)).toEqual(['allow', 'allow']);
    expect(timer.now()).toBeLessThan(REDO_FOR_MS);
  });

  it('past redoUnwritableForMs from the call, is split: the request meeting the error is blocked, its neighbours decided', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('42804', 'bad'), { timer });
    const outcomes = await stage.decide([accepted('ok1'), accepted('bad'), accepted('ok2')], 0);
    expect(decisions(outcomes)).toEqual(['allow', 'block:ENGINE_ERROR', 'allow']);
    expect(timer.now()).toBeGreaterThanOrEqual(REDO_FOR_MS);
    expect(timer.now()).toBeLessThan(REDO_FOR_MS + 2_000);
  });

  it('0 blocks at once, as before the redo existed', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('25006', 'a'), { timer, redoUnwritableForMs: 0 });
    expect(decisions(await stage.decide([accepted('a')], 0))).toEqual(['block:ENGINE_ERROR']);
    expect(stage.transactions).toHaveLength(1);
  });

  it('ends within its bound though other batches commit meanwhile', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('42501', 'bad'), { timer });
    const held = stage.decide([accepted('bad')], 0);
    for (let i = 0; i < 20; i++) {
      expect(decisions(await stage.decide([accepted(`other-${i}`)], 0))).toEqual(['allow']);
      await nextTurn();
    }
    expect(decisions(await held)).toEqual(['block:ENGINE_ERROR']);
    expect(timer.now()).toBeLessThan(REDO_FOR_MS + 2_000);
  });

  it('a group commit larger than one transaction ends: a later chunk redoes only itself, and the earlier chunk is not written again', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('42804', 'bad'), { timer });
    const group = new GroupCommit(
      (items: Array<Intake<GateRequest>>, now, context) => stage.decide(items, now, context),
      { maxItems: 2, membershipLost: () => false, clock: () => timer.now() },
    );
    const outcomes = await group.submit([accepted('ok1'), accepted('ok2'), accepted('bad')], 0);
    expect(decisions(outcomes)).toEqual(['allow', 'allow', 'block:ENGINE_ERROR']);
    expect(stage.transactions.filter((t) => t.includes('ok1'))).toHaveLength(1);
  });

  it('a batch split for a data refusal whose later part then fails for Postgres’s reasons ends: both requests blocked, the rest decided', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(
      (steps) =>
        steps.includes('data') ? databaseError('22P02') : steps.includes('bad') ? databaseError('42804') : undefined,
      { timer },
    );
    const outcomes = await stage.decide([accepted('ok1'), accepted('data'), accepted('ok2'), accepted('bad')], 0);
    expect(decisions(outcomes)).toEqual(['allow', 'block:ENGINE_ERROR', 'allow', 'block:ENGINE_ERROR']);
    expect(timer.now()).toBe(stage.transactions.length * TRANSACTION_MS); // split at once: the data refusal came first, no redo
  });

  it('a refusal of the data is never redone: split at once down to the request', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('23514', 'data'), { timer });
    expect(decisions(await stage.decide([accepted('ok'), accepted('data')], 0))).toEqual([
      'allow',
      'block:ENGINE_ERROR',
    ]);
    expect(timer.now()).toBe(stage.transactions.length * TRANSACTION_MS); // no wait
  });

  it('once a batch could write nothing past its bound, the next batch Postgres refuses whole so is split at once, without the redo; a commit ends that, and so does time', async () => {
    const timer = new VirtualTimer();
    let readOnly = true;
    const stage = new ScriptedDecideStage(
      (steps) => (readOnly || steps.includes('still-bad') ? databaseError('25006') : undefined),
      { timer },
    );
    expect(decisions(await stage.decide([accepted('a')], 0))).toEqual(['block:ENGINE_ERROR']);
    const expiredAt = timer.now();
    expect(expiredAt).toBeGreaterThanOrEqual(REDO_FOR_MS);
    const tried = stage.transactions.length;
    expect(decisions(await stage.decide([accepted('b1'), accepted('b2')], 0))).toEqual([
      'block:ENGINE_ERROR',
      'block:ENGINE_ERROR',
    ]);
    expect(stage.transactions.length - tried).toBe(3); // the whole and each request: split, each tried
    expect(timer.now()).toBe(expiredAt + 3 * TRANSACTION_MS); // no redo
    readOnly = false;
    expect(decisions(await stage.decide([accepted('c')], 0))).toEqual(['allow']);
    const committedAt = timer.now();
    await stage.decide([accepted('still-bad')], 0);
    expect(timer.now()).toBeGreaterThanOrEqual(committedAt + REDO_FOR_MS); // redone again

    // An episode long past (no failure for redoUnwritableForMs) does not skip the redo of the next one.
    readOnly = true;
    timer.t += REDO_FOR_MS;
    const later = timer.now();
    await stage.decide([accepted('d')], 0);
    expect(timer.now()).toBeGreaterThanOrEqual(later + REDO_FOR_MS);
  });

  it('past the bound, every request is still tried: a lone request that fails alone blocks no neighbour, even the batch after it', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('42804', 'bad'), { timer });
    expect(decisions(await stage.decide([accepted('bad')], 0))).toEqual(['block:ENGINE_ERROR']);
    const batch = [accepted('bad'), ...Array.from({ length: 7 }, (_, i) => accepted(`ok-${i}`))];
    expect(decisions(await stage.decide(batch, 0))).toEqual(['block:ENGINE_ERROR', ...Array(7).fill('allow')]);
  });

  it('one bound for all the chunks of a group commit, however many of them meet the failure', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('42804', 'bad-1', 'bad-2', 'bad-3'), { timer });
    const group = new GroupCommit(
      (items: Array<Intake<GateRequest>>, now, context) => stage.decide(items, now, context),
      { maxItems: 2, membershipLost: () => false, clock: () => timer.now() },
    );
    const items = ['ok-1', 'bad-1', 'ok-2', 'bad-2', 'ok-3', 'bad-3'].map(accepted);
    const outcomes = await group.submit(items, 0);
    expect(decisions(outcomes)).toEqual([
      'allow',
      'block:ENGINE_ERROR',
      'allow',
      'block:ENGINE_ERROR',
      'allow',
      'block:ENGINE_ERROR',
    ]);
    expect(timer.now()).toBeLessThan(REDO_FOR_MS + 2_500); // not 10 s a chunk
  });

  it('beats the heartbeat while it redoes, and decides each attempt at the time it starts', async () => {
    const timer = new VirtualTimer();
    let readOnly = true;
    const stage = new ScriptedDecideStage(() => (readOnly ? databaseError('25006') : undefined), { timer });
    let beats = 0;
    const pending = stage.decide([accepted('a')], 1_000, {
      heartbeat: async () => {
        beats++;
      },
    });
    const wallBefore = Date.now();
    while (timer.now() < 2_000) await nextTurn();
    await new Promise((r) => setTimeout(r, 5)); // the wall clock moves on between attempts
    readOnly = false;
    await pending;
    expect(beats).toBeGreaterThanOrEqual(3);
    expect(stage.decidedAt[0]).toBe(1_000);
    expect(stage.decidedAt.at(-1)).toBeGreaterThanOrEqual(wallBefore);
  });

  it('Postgres stopping to answer in the middle of a redo ends the call with its error (the batch is then held until it answers)', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(() => databaseError('25006'), { timer });
    const pending = stage.decide([accepted('a')], 0);
    while (timer.now() < 1_000) await nextTurn();
    stage.answers = false;
    await expect(pending).rejects.toMatchObject({ code: '25006' });
  });

  it('Postgres stopping to answer forgets that writes were failing: the next refusal is redone again', async () => {
    const timer = new VirtualTimer();
    let readOnly = true;
    const stage = new ScriptedDecideStage(() => (readOnly ? databaseError('25006') : undefined), { timer });
    await stage.decide([accepted('a')], 0); // past its bound: writes are failing
    stage.answers = false;
    await expect(stage.decide([accepted('b')], 0)).rejects.toBeInstanceOf(pg.DatabaseError);
    stage.answers = true;
    const before = timer.now();
    const pending = stage.decide([accepted('c')], 0);
    while (timer.now() < before + 1_000) await nextTurn();
    readOnly = false;
    expect(decisions(await pending)).toEqual(['allow']); // redone, not blocked at once
  });

  it('failures that are no request’s and not Postgres’s refusal (a signature thread, a COMMIT gone unanswered) are thrown at once, not redone here', async () => {
    const timer = new VirtualTimer();
    const unknown = new CommitOutcomeUnknown(4242, new Error('connection lost after COMMIT'));
    const stage = new ScriptedDecideStage(() => unknown, { timer });
    await expect(stage.decide([accepted('a')], 0)).rejects.toBe(unknown);
    expect(stage.transactions).toHaveLength(1);
  });

  it('past the bound, a batch a read-only node refuses (25006, and the node says it is read-only) is blocked without trying each request; a 25006 from anything else is split', async () => {
    const batch = () => Array.from({ length: 50 }, (_, i) => accepted(`ro-${i}`));
    const timer = new VirtualTimer();
    const node = new ScriptedDecideStage(() => databaseError('25006'), { timer });
    node.readOnlyNode = true;
    const outcomes = await node.decide(batch(), 0);
    expect(new Set(decisions(outcomes))).toEqual(new Set(['block:ENGINE_ERROR']));
    expect(node.transactions.every((t) => t.length === 50)).toBe(true); // only whole attempts

    const trigger = new ScriptedDecideStage(() => databaseError('25006'), { timer: new VirtualTimer() });
    await trigger.decide(batch(), 0);
    expect(trigger.transactions.filter((t) => t.length === 1)).toHaveLength(50); // each request tried
  });
});
