import { generateKeyPairSync } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it, vi } from 'vitest';
import { MAX_ANSWERABLE_ID_CHARS, MAX_ECHO_CHARS, MAX_VALUE_BYTES } from '@stepgate/contracts';
import { ClientOptionsError, GateClient, type GateStepRequest } from '../src/gate-client.js';
import { RefusedLocallyError, localRefusal } from '../src/local-refusal.js';
import { newRequestId } from '../src/request-id.js';
import { createGateActivities } from '../src/temporal/activities.js';

const step = (over: Partial<GateStepRequest> = {}): GateStepRequest => ({
  workflow_id: 'wf',
  step_id: 'deploy',
  step_type: 'tool_call',
  ...over,
});

/** The request as `gate()` sends it, and its exact bytes. */
function outgoing(over: Partial<GateStepRequest> = {}) {
  const request = {
    ...step(over),
    request_id: over.request_id ?? newRequestId(),
    requested_at: new Date().toISOString(),
  };
  return { request, bytes: Buffer.from(JSON.stringify(request)) };
}

/** A request whose encoded value is exactly `size` bytes (padded in step_input). */
function ofSize(size: number) {
  const { bytes } = outgoing({ step_input: { pad: '' } });
  const padded = outgoing({ step_input: { pad: 'x'.repeat(size - bytes.length) } });
  expect(padded.bytes.length).toBe(size);
  return padded;
}

function refusalOf(over: Partial<GateStepRequest>) {
  const { request, bytes } = outgoing(over);
  return localRefusal(request, bytes);
}

describe('what GateClient refuses before sending', () => {
  it("a value over MAX_VALUE_BYTES (the evaluator refuses it, under the signer's tenant), not one at the limit", () => {
    const at = ofSize(MAX_VALUE_BYTES);
    expect(localRefusal(at.request, at.bytes)).toBeUndefined();
    const over = ofSize(MAX_VALUE_BYTES + 1);
    const refused = localRefusal(over.request, over.bytes);
    expect(refused).toBeInstanceOf(RefusedLocallyError);
    expect({ code: refused?.code, path: refused?.path }).toEqual({ code: 'INVALID_REQUEST', path: '(root)' });
  });

  it.each([
    ['a NUL', `${newRequestId()}\u0000`],
    ['a lone surrogate', `${newRequestId()}\ud800`],
    ['too long for the evaluator to answer', 'r'.repeat(MAX_ANSWERABLE_ID_CHARS + 1)],
    ['empty', ''],
  ])('a request_id with %s (the evaluator would send it to dlq)', (_, requestId) => {
    const refused = refusalOf({ request_id: requestId });
    expect(refused).toBeInstanceOf(RefusedLocallyError);
    expect({ code: refused?.code, path: refused?.path }).toEqual({ code: 'INVALID_REQUEST', path: 'request_id' });
  });

  it('a request_id that is not a string', () => {
    const { request, bytes } = outgoing();
    expect(localRefusal({ ...request, request_id: 42 }, bytes)?.path).toBe('request_id');
  });

  it.each([
    ['a UUIDv7', newRequestId()],
    ['an upper-case UUID', newRequestId().toUpperCase()],
    ['the nil UUID', '00000000-0000-0000-0000-000000000000'],
    // Not a UUID, so refused by the schema, but under the tenant: the caller gets that decision.
    ['not a UUID', 'r-1'],
    ['as long as the evaluator answers', 'r'.repeat(MAX_ANSWERABLE_ID_CHARS)],
  ])('not a request_id that is %s', (_, requestId) => {
    expect(refusalOf({ request_id: requestId })).toBeUndefined();
  });

  it.each(['workflow_id', 'step_id'] as const)(
    'a %s a refusal could not echo (then its client ignores it)',
    (field) => {
      for (const id of ['wf\u0000', 'wf\udc00', 'w'.repeat(MAX_ECHO_CHARS + 1), '😀'.repeat(128)]) {
        const refused = refusalOf({ [field]: id });
        expect(refused).toBeInstanceOf(RefusedLocallyError);
        expect({ code: refused?.code, path: refused?.path }).toEqual({ code: 'INVALID_REQUEST', path: field });
      }
      expect(refusalOf({ [field]: 'w'.repeat(MAX_ECHO_CHARS) })).toBeUndefined();
      expect(refusalOf({ [field]: '😀'.repeat(127) })).toBeUndefined();
    },
  );

  it('leaves what the evaluator refuses under the signer’s tenant to the evaluator', () => {
    expect(
      refusalOf({ model: 'claude\u0000', step_type: 'teleport' as 'tool_call', tenant_id: 'globex' }),
    ).toBeUndefined();
  });
});

/** A client that never connects (no broker at that address): anything it got as far as sending would fail otherwise. */
function unconnectedClient(options: { keyId?: unknown } = {}): GateClient {
  const { privateKey } = generateKeyPairSync('ed25519');
  return new GateClient({
    brokers: ['127.0.0.1:1'],
    keyId: ('keyId' in options ? options.keyId : 'sgk_test') as string,
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    insecureSkipReceiptVerification: true,
    timeoutMs: 60_000,
  });
}

describe('GateClient.gate with a request it refuses', () => {
  it('rejects with the typed error and sends nothing', async () => {
    const client = unconnectedClient();
    // Never connected: a request that got as far as sending would fail otherwise, not with this error.
    const sends = vi.spyOn(client as unknown as { sendBytes: () => Promise<void> }, 'sendBytes');
    const pad = 'x'.repeat(MAX_VALUE_BYTES);
    await expect(client.gate(step({ step_input: { pad } }))).rejects.toMatchObject({
      name: 'RefusedLocallyError',
      code: 'INVALID_REQUEST',
      path: '(root)',
    });
    await expect(client.gate(step({ request_id: '' }))).rejects.toBeInstanceOf(RefusedLocallyError);
    // A completion with a large output: the evaluator would drop it unattributed, and nothing answers one.
    const output = 'x'.repeat(MAX_VALUE_BYTES);
    await expect(client.complete({ workflow_id: 'wf', step_id: 'deploy', output })).rejects.toMatchObject({
      name: 'RefusedLocallyError',
      code: 'INVALID_REQUEST',
      path: '(root)',
    });
    expect(sends).not.toHaveBeenCalled();
    expect((client as unknown as { byRequest: Map<string, unknown> }).byRequest.size).toBe(0);
    await client.disconnect();
  });

  it('as a Temporal activity: fails for good (not retried), typed, with its code and field', async () => {
    const client = unconnectedClient();
    const activities = createGateActivities(client);
    const failure = await new MockActivityEnvironment()
      .run((s: GateStepRequest) => activities.gateStep(s), step({ step_input: { pad: 'x'.repeat(MAX_VALUE_BYTES) } }))
      .catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({
      type: 'RefusedLocallyError',
      nonRetryable: true,
      details: [{ code: 'INVALID_REQUEST', path: '(root)' }],
    });
    await client.disconnect();
  });
});

describe('GateClient options', () => {
  it.each(['', 'has space', '-leading-dash', 'k'.repeat(129), undefined, 42])(
    'refuses a key id the evaluator would not look up (%j): INVALID_SETTINGS, naming keyId',
    (keyId) => {
      const make = () => unconnectedClient({ keyId });
      expect(make).toThrow(ClientOptionsError);
      expect(make).toThrow(expect.objectContaining({ code: 'INVALID_SETTINGS', option: 'keyId' }));
    },
  );
});
