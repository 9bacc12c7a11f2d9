import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RateSampler } from '../src/emit.js';
import { InputRedactor, REDACTED_MARKER } from '../src/recorded-input.js';

const signingKey = generateKeyPairSync('ed25519').privateKey;

describe('InputRedactor', () => {
  const redactor = new InputRedactor({ redactKeys: ['password', 'ssn'], signingKey });

  it('keeps a keyed hash of every value under a redacted key, and lists its path', () => {
    const { value, paths } = redactor.redact({
      step: { step_input: { user: 'ann', SSN: '123-45', nested: [{ db_password: { a: 1 } }] } },
    });
    expect(paths).toEqual(['step.step_input.SSN', 'step.step_input.nested[0].db_password']);
    const input = (value as { step: { step_input: Record<string, unknown> } }).step.step_input;
    expect(input.user).toBe('ann');
    expect(input.SSN).toEqual({ [REDACTED_MARKER]: expect.stringMatching(/^hmac-sha256:[0-9a-f]{64}$/) });
    expect(JSON.stringify(value)).not.toContain('123-45');
  });

  it('leaves the input unchanged, and reuses the parts with nothing to mask', () => {
    const input = {
      step: { step_input: { user: 'ann', ssn: '1' }, tool_context: { tool_name: 't', args: [1, { a: 2 }] } },
    };
    const before = JSON.stringify(input);
    const { value, paths } = redactor.redact(input);
    expect(JSON.stringify(input)).toBe(before);
    expect(paths).toEqual(['step.step_input.ssn']);
    const step = (value as typeof input).step;
    expect(step).not.toBe(input.step);
    expect(step.tool_context).toBe(input.step.tool_context);
    expect(step.step_input).toEqual({ user: 'ann', ssn: { [REDACTED_MARKER]: expect.any(String) } });
    expect(redactor.redact(input.step.tool_context).value).toBe(input.step.tool_context);
  });

  it('keeps a "__proto__" key as a key', () => {
    const { value, paths } = redactor.redact(JSON.parse('{"__proto__": {"password": "x", "a": 1}}'));
    expect(paths).toEqual(['__proto__.password']);
    expect(JSON.stringify(value)).toMatch(
      /^\{"__proto__":\{"password":\{"\$redacted":"hmac-sha256:[0-9a-f]{64}"\},"a":1\}\}$/,
    );
  });

  it('hashes equal values equally under one key, and differently under another key', () => {
    const a = redactor.redact({ password: 'x' }).value;
    expect(redactor.redact({ password: 'x' }).value).toEqual(a);
    expect(redactor.redact({ password: 'y' }).value).not.toEqual(a);
    const other = new InputRedactor({
      redactKeys: ['password'],
      signingKey: generateKeyPairSync('ed25519').privateKey,
    });
    expect(other.redact({ password: 'x' }).value).not.toEqual(a);
  });
});

describe('RateSampler', () => {
  it('takes up to the rate per key and second, then refills', () => {
    const sampler = new RateSampler(3);
    const at = 1_000_000;
    expect([1, 2, 3, 4].map(() => sampler.take('t', at))).toEqual([true, true, true, false]);
    expect(sampler.take('other', at)).toBe(true);
    expect(sampler.take('t', at + 400)).toBe(true);
    expect(sampler.take('t', at + 400)).toBe(false);
  });
});
