import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { SettingsError } from '@stepgate/runtime';
import { configFromEnv } from '../src/config.js';

const dir = mkdtempSync(path.join(tmpdir(), 'stepgate-approvals-config-'));
const pem = (type: 'ed25519' | 'ec', part: 'private' | 'public') => {
  const pair = type === 'ec' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  return (part === 'private' ? pair.privateKey : pair.publicKey).export({
    type: part === 'private' ? 'pkcs8' : 'spki',
    format: 'pem',
  }) as string;
};
const file = (name: string, text: string) => {
  const at = path.join(dir, name);
  writeFileSync(at, text);
  return at;
};
const own = file('own.pem', pem('ed25519', 'private'));
const evaluator = file('evaluator.pub.pem', pem('ed25519', 'public'));
const ec = file('ec.pub.pem', pem('ec', 'public'));
const env = (keys: string) => ({
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/db',
  KAFKA_BROKERS: '127.0.0.1:9092',
  STEPGATE_SIGNING_KEY_FILE: own,
  STEPGATE_EVALUATOR_PUBLIC_KEY_FILES: keys,
});
const refusal = (keys: string) => {
  try {
    configFromEnv(env(keys));
  } catch (err) {
    if (err instanceof SettingsError) return err.message;
    throw err;
  }
  throw new Error('expected a SettingsError');
};

describe('STEPGATE_EVALUATOR_PUBLIC_KEY_FILES: the evaluator keys whose approval requests are taken', () => {
  it('key_id=path entries give the keys by id', () => {
    const config = configFromEnv(env(`eval-2=${evaluator}`));
    expect([...(config.evaluatorKeys?.keys() ?? [])]).toEqual(['eval-2']);
  });

  it("refuses, naming the variable and what it expected: no =, a key id twice, a missing file, a key that is not Ed25519, the service's own key id", () => {
    expect(refusal(evaluator)).toMatch(/STEPGATE_EVALUATOR_PUBLIC_KEY_FILES.*key_id=path/s);
    expect(refusal(`a=${evaluator},a=${evaluator}`)).toMatch(/each key id once/);
    expect(refusal(`a=${path.join(dir, 'missing.pem')}`)).toMatch(/a readable file holding a PEM public key/);
    expect(refusal(`a=${ec}`)).toMatch(/an Ed25519 public key/);
    expect(refusal(`stepgate-evaluator=${evaluator}`)).toMatch(/other than the service's own/);
  });
});
