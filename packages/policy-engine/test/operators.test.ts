import { describe, expect, it } from 'vitest';
import { bundle, decide, policy } from './helpers.js';

/** Decision of a single block policy with one condition on step_input.v, for a given value (undefined = absent). */
function fires(operator: string, operand: unknown, value: unknown) {
  const b = bundle({ policies: [policy({ conditions: [{ field: 'step_input.v', operator, value: operand }] })] });
  const r = decide(b, { step_input: value === undefined ? {} : { v: value } });
  return { fired: r.decision === 'block', unevaluable: r.unevaluable };
}

describe('operators', () => {
  it('equals is JSON equality: numbers numerically, booleans as booleans, no string coercion, deep for objects', () => {
    expect(fires('equals', 5, 5.0).fired).toBe(true);
    expect(fires('equals', 5, '5').fired).toBe(false);
    expect(fires('equals', true, true).fired).toBe(true);
    expect(fires('equals', true, 'true').fired).toBe(false);
    expect(fires('equals', 'Prod', 'prod').fired).toBe(false);
    expect(fires('equals', { a: [1, { b: 2 }] }, { a: [1, { b: 2 }] }).fired).toBe(true);
    expect(fires('equals', { a: 1, b: 2 }, { b: 2, a: 1 }).fired).toBe(true);
    expect(fires('equals', [1, 2], [2, 1]).fired).toBe(false);
    expect(fires('equals', null, null).fired).toBe(true);
  });

  it('not_equals is its negation, and a missing field matches it (fail closed)', () => {
    expect(fires('not_equals', 'x', 'y').fired).toBe(true);
    expect(fires('not_equals', 'x', 'x').fired).toBe(false);
    expect(fires('not_equals', 'x', undefined).fired).toBe(true);
  });

  it('contains: case-insensitive substring for strings, membership for arrays', () => {
    expect(fires('contains', 'DROP TABLE', 'please drop table users').fired).toBe(true);
    expect(fires('contains', 'drop', 'select').fired).toBe(false);
    expect(fires('contains', 'b', ['a', 'b']).fired).toBe(true);
    expect(fires('contains', 3, [1, 2, 3]).fired).toBe(true);
    expect(fires('contains', 'B', ['a', 'b']).fired).toBe(false);
    const onNumber = fires('contains', 'x', 42);
    expect(onNumber.fired).toBe(false);
    expect(onNumber.unevaluable.type_mismatch).toBe(1);
  });

  it('not_contains negates contains; a missing field matches it', () => {
    expect(fires('not_contains', 'secret', 'public text').fired).toBe(true);
    expect(fires('not_contains', 'secret', 'a SECRET').fired).toBe(false);
    expect(fires('not_contains', 'secret', undefined).fired).toBe(true);
  });

  it('contains_any: any operand as substring (strings) or member (arrays)', () => {
    expect(fires('contains_any', ['rm -rf', 'mkfs'], 'sudo RM -RF /').fired).toBe(true);
    expect(fires('contains_any', ['rm -rf', 'mkfs'], 'ls -la').fired).toBe(false);
    expect(fires('contains_any', ['admin', 'owner'], ['viewer', 'owner']).fired).toBe(true);
    expect(fires('contains_any', ['admin'], ['viewer']).fired).toBe(false);
  });

  it('greater_than / less_than compare numbers; non-numbers and missing fields do not match and are counted', () => {
    expect(fires('greater_than', 10, 11).fired).toBe(true);
    expect(fires('greater_than', 10, 10).fired).toBe(false);
    expect(fires('less_than', 10, 9.5).fired).toBe(true);
    expect(fires('less_than', 10, 10).fired).toBe(false);
    const str = fires('greater_than', 10, '11');
    expect(str.fired).toBe(false);
    expect(str.unevaluable).toEqual({ missing_field: 0, type_mismatch: 1, total: 1 });
    const missing = fires('less_than', 10, undefined);
    expect(missing.fired).toBe(false);
    expect(missing.unevaluable).toEqual({ missing_field: 1, type_mismatch: 0, total: 1 });
  });

  it('regex uses RE2 semantics and matches anywhere unless anchored', () => {
    expect(fires('regex', '^us-(east|west)-\\d$', 'us-east-1').fired).toBe(true);
    expect(fires('regex', '^us-(east|west)-\\d$', 'eu-west-1').fired).toBe(false);
    expect(fires('regex', '\\d{3}-\\d{2}-\\d{4}', 'ssn 123-45-6789 here').fired).toBe(true);
    expect(fires('regex', 'x', 12).unevaluable.type_mismatch).toBe(1);
  });

  it('regex runs in linear time: a classic catastrophic-backtracking pattern returns at once', () => {
    const t0 = performance.now();
    const r = fires('regex', '^(a+)+$', `${'a'.repeat(5000)}!`);
    expect(r.fired).toBe(false);
    // Behavioural bound, not a speed target: a backtracking engine would not return for hours.
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  it('in / not_in test membership of the value in the operand list', () => {
    expect(fires('in', ['gpt-4', 'gpt-4o'], 'gpt-4o').fired).toBe(true);
    expect(fires('in', ['gpt-4', 'gpt-4o'], 'claude').fired).toBe(false);
    expect(fires('in', [1, 2], 2).fired).toBe(true);
    expect(fires('in', [{ a: 1 }], { a: 1 }).fired).toBe(true);
    expect(fires('not_in', ['us-east-1'], 'eu-west-1').fired).toBe(true);
    expect(fires('not_in', ['us-east-1'], 'us-east-1').fired).toBe(false);
    expect(fires('not_in', ['us-east-1'], undefined).fired).toBe(true);
  });

  it('a missing field never matches the positive operators', () => {
    for (const [op, operand] of [
      ['equals', 'x'],
      ['contains', 'x'],
      ['contains_any', ['x']],
      ['in', ['x']],
      ['regex', 'x'],
      ['greater_than', 0],
      ['less_than', 0],
    ] as const) {
      const r = fires(op, operand, undefined);
      expect(r.fired, op).toBe(false);
      expect(r.unevaluable.missing_field, op).toBe(1);
    }
  });
});
