import { describe, expect, it } from 'vitest';
import { AuditEnvSchema, EvaluatorEnvSchema, readSettings, SettingsError } from '../src/index.js';

const refusal = (run: () => unknown): SettingsError => {
  try {
    run();
  } catch (err) {
    if (err instanceof SettingsError) return err;
    throw err;
  }
  throw new Error('expected a SettingsError');
};

describe('process settings', () => {
  it('gives the local stack defaults when nothing is set, and treats empty variables as unset', () => {
    const e = readSettings('audit', AuditEnvSchema, { KAFKA_BROKERS: '', STEPGATE_AUDIT_WRITE_SLICE: '' });
    expect(e.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(e.STEPGATE_AUDIT_WRITE_SLICE).toBe(2_000);
    expect(e.STEPGATE_SESSION_TIMEOUT_MS).toBe(10_000);
    expect(e.METRICS_PORT).toBeUndefined();
  });

  it('parses numbers, lists and URLs', () => {
    const e = readSettings('evaluator', EvaluatorEnvSchema, {
      STEPGATE_EVALUATOR_KEY_FILE: '/keys/evaluator.pem',
      KAFKA_BROKERS: 'a:9092, b:9093',
      METRICS_PORT: '9464',
      STEPGATE_REDACT_KEYS: 'ssn, iban,',
      PORTAL_BASE_URL: 'https://portal.example.com/approvals',
    });
    expect(e.KAFKA_BROKERS).toEqual(['a:9092', 'b:9093']);
    expect(e.METRICS_PORT).toBe(9464);
    expect(e.STEPGATE_REDACT_KEYS).toEqual(['ssn', 'iban']);
  });

  it('refuses every bad variable at once, naming it and what was expected (NaN no longer slips through)', () => {
    const err = refusal(() =>
      readSettings('evaluator', EvaluatorEnvSchema, {
        STEPGATE_MAX_CLOCK_SKEW_MS: 'five minutes',
        METRICS_PORT: '70000',
        KAFKA_BROKERS: 'localhost',
        STEPGATE_PARTITIONS_CONCURRENTLY: '0',
      }),
    );
    expect(Object.fromEntries(err.problems.map((p) => [p.variable, p.expected]))).toEqual({
      STEPGATE_EVALUATOR_KEY_FILE: 'required',
      STEPGATE_MAX_CLOCK_SKEW_MS: 'expected a whole number from 1000 to 3600000',
      METRICS_PORT: 'expected at most 65535',
      KAFKA_BROKERS: 'expected host:port, comma-separated',
      STEPGATE_PARTITIONS_CONCURRENTLY: 'expected at least 1',
    });
    expect(err.message).toContain(
      'STEPGATE_MAX_CLOCK_SKEW_MS: expected a whole number from 1000 to 3600000 (got "five minutes")',
    );
  });

  it('never echoes the value of a variable that may hold a secret', () => {
    const err = refusal(() => readSettings('audit', AuditEnvSchema, { DATABASE_URL: 'mysql://root:hunter2@db/x' }));
    expect(err.problems).toEqual([
      { variable: 'DATABASE_URL', expected: 'expected a postgres:// URL', got: undefined },
    ]);
    expect(err.message).not.toContain('hunter2');
  });
});
