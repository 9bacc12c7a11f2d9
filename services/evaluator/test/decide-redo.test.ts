import pg from 'pg';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { GateRequest } from '@stepgate/contracts';
import type { StepKey } from '@stepgate/store';
import { DecideStage, type DecideStageDeps, type RedoTimer } from '../src/decide.js';
import type { GateOutcome } from '../src/gate.js';
import { GroupCommit } from '../src/group-commit.js';
import type { Intake } from '../src/intake.js';

// The redo and split around the decide transaction, against scripted transaction outcomes: which
// batches Postgres refuses, for what reason, and whether it answers at all.

const REDO_FOR_MS = 10_000;

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
  answers = true;

  constructor(
    private readonly script: Script,
    options: { timer: VirtualTimer; redoUnwritableForMs?: number },
  ) {
    const stage: { answers: boolean } = { answers: true };
    const pool = {
      connect: async () => ({ on() {}, off() {}, release() {} }),
      query: async () => {
        if (!stage.answers) throw new Error('connect ECONNREFUSED');
        return { rows: [] };
      },
    } as unknown as pg.Pool;
    super({ pool, log: pino({ level: 'silent' }), ...options } as unknown as DecideStageDeps);
    Object.defineProperty(this, 'answers', {
      get: () => stage.answers,
      set: (v: boolean) => (stage.answers = v),
    });
  }

  protected override async transaction(
    _client: pg.PoolClient,
    intakes: Array<Intake<GateRequest>>,
    _keys: StepKey[],
  ): Promise<Array<GateOutcome | undefined>> {
    const steps = intakes.map((i) => (i.kind === 'accepted' ? i.body.step_id : ''));
    this.transactions.push(steps);
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
      (items: Array<Intake<GateRequest>>, now, heartbeat) => stage.decide(items, now, heartbeat),
      {
        maxItems: 2,
        membershipLost: () => false,
      },
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
    expect(timer.now()).toBe(0); // split at once: the data refusal came first, no redo
  });

  it('a refusal of the data is never redone: split at once down to the request', async () => {
    const timer = new VirtualTimer();
    const stage = new ScriptedDecideStage(failingWith('23514', 'data'), { timer });
    expect(decisions(await stage.decide([accepted('ok'), accepted('data')], 0))).toEqual([
      'allow',
      'block:ENGINE_ERROR',
    ]);
    expect(timer.now()).toBe(0);
  });

  it('once a call could write nothing past its bound, later calls are answered at once until a transaction commits; then the redo is back', async () => {
    const timer = new VirtualTimer();
    let readOnly = true;
    const stage = new ScriptedDecideStage(
      (steps) => (readOnly || steps.includes('still-bad') ? databaseError('25006') : undefined),
      { timer },
    );
    expect(decisions(await stage.decide([accepted('a')], 0))).toEqual(['block:ENGINE_ERROR']);
    const expiredAt = timer.now();
    expect(expiredAt).toBeGreaterThanOrEqual(REDO_FOR_MS);
    expect(decisions(await stage.decide([accepted('b')], 0))).toEqual(['block:ENGINE_ERROR']);
    expect(timer.now()).toBe(expiredAt); // no redo
    readOnly = false;
    expect(decisions(await stage.decide([accepted('c')], 0))).toEqual(['allow']);
    await stage.decide([accepted('still-bad')], 0);
    expect(timer.now()).toBeGreaterThanOrEqual(expiredAt + REDO_FOR_MS); // redone again
  });

  it('Postgres stopping to answer during the redo ends the call with its error (the batch is held until it answers) and forgets an earlier failed episode', async () => {
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
});
