import { describe, expect, it } from 'vitest';
import { AuditEventSchema } from '../src/index.js';
import { gateAuditEventId } from '../src/node.js';

describe('gate audit event id', () => {
  it('is the same for a decision in every version (redelivered decisions must repeat it) and a valid audit id', () => {
    const id = gateAuditEventId('00000000-0000-4000-8000-000000000001');
    expect(id).toBe('dbf682d5-7e5f-50d9-a24f-4e6cea3a0a64');
    expect(gateAuditEventId('00000000-0000-4000-8000-000000000001')).toBe(id);
    expect(gateAuditEventId('00000000-0000-4000-8000-000000000002')).not.toBe(id);
    expect(AuditEventSchema.shape.id.safeParse(id).success).toBe(true);
  });
});
