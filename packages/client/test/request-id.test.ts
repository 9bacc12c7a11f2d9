import { describe, expect, it } from 'vitest';
import { GateRequestSchema } from '@stepgate/contracts';
import { newRequestId } from '../src/request-id.js';

describe('newRequestId', () => {
  it('makes UUIDv7 ids that sort in the order they were made', () => {
    const ids = Array.from({ length: 1_000 }, () => newRequestId());
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('is a request id the wire contract accepts', () => {
    expect(GateRequestSchema.shape.request_id.safeParse(newRequestId()).success).toBe(true);
  });
});
