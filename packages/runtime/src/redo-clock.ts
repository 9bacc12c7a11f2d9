export interface RedoClockOptions {
  /** How long failures must have lasted before `expired` says so. */
  redoForMs: number;
  /** A longer time between two failures starts the clock again: they are not one episode. */
  gapMs: number;
  /** Failures needed besides the time (a single slow attempt is not an episode). */
  attemptsAtLeast: number;
  /** Most keys remembered: past it, a new key forgets them all (a bound, not an eviction policy). */
  maxKeys: number;
}

interface Failing {
  since: number;
  last: number;
  attempts: number;
}

/**
 * How long each unit of work (an audit slice, redelivered until it is written) has been failing for
 * Postgres's reasons, so that such a failure is redone for a while and only then taken for a fault of
 * what the work holds. The caller says when a failure counts (`failed`: only while Postgres answers, so
 * time with it down does not count) and when the episode is over (`forget`: the work was written, or
 * Postgres stopped answering). Times are monotonic milliseconds (`performance.now()` by default).
 */
export class RedoClock {
  private readonly failing = new Map<string, Failing>();

  constructor(private readonly options: RedoClockOptions) {}

  failed(key: string, now: number = performance.now()): void {
    const known = this.failing.get(key);
    const fresh = !known || now - known.last > this.options.gapMs;
    if (fresh && !known && this.failing.size >= this.options.maxKeys) this.failing.clear();
    this.failing.set(
      key,
      fresh ? { since: now, last: now, attempts: 1 } : { since: known.since, last: now, attempts: known.attempts + 1 },
    );
  }

  forget(key: string): void {
    this.failing.delete(key);
  }

  /** Whether `key` has failed for longer than `redoForMs`, over enough attempts, with no long gap up to now. */
  expired(key: string, now: number = performance.now()): boolean {
    const failing = this.failing.get(key);
    return (
      failing !== undefined &&
      failing.attempts >= this.options.attemptsAtLeast &&
      now - failing.last <= this.options.gapMs &&
      now - failing.since > this.options.redoForMs
    );
  }
}
