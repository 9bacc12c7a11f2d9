import { ServiceError } from '@temporalio/client';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { classifyStartFailure } from '../src/start-failures.js';

/** What @grpc/grpc-js rejects a call with. */
const grpcError = (code: number) => Object.assign(new Error(`code ${code}`), { code, details: 'x', metadata: {} });
const temporal = (code: number) => new ServiceError('Failed to start Workflow', { cause: grpcError(code) });
const database = (sqlstate: string) => Object.assign(new pg.DatabaseError('failed', 0, 'error'), { code: sqlstate });

describe('why an approval could not start, by the error type and code', () => {
  it('Temporal refusing the request itself (INVALID_ARGUMENT, OUT_OF_RANGE) is refused: dead-lettered at once', () => {
    expect(classifyStartFailure(temporal(3))).toBe('refused');
    expect(classifyStartFailure(temporal(11))).toBe('refused');
  });

  it('load shed, deadlines, unavailability, deadlocks and statement timeouts pass: retried', () => {
    for (const code of [1, 4, 8, 10, 14]) expect(classifyStartFailure(temporal(code))).toBe('transient');
    expect(classifyStartFailure(grpcError(14))).toBe('transient');
    for (const sqlstate of ['40P01', '57014', '40001'])
      expect(classifyStartFailure(database(sqlstate))).toBe('transient');
  });

  it('anything else is unknown: retried a few times while Postgres and Temporal answer', () => {
    expect(classifyStartFailure(temporal(5))).toBe('unknown');
    expect(classifyStartFailure(database('23505'))).toBe('unknown');
    expect(classifyStartFailure(new Error('timeout exceeded when trying to connect'))).toBe('unknown');
    expect(classifyStartFailure('a string')).toBe('unknown');
  });
});
