import { describe, expect, it } from 'vitest';
import { RedoClock } from '../src/redo-clock.js';

const clock = () => new RedoClock({ redoForMs: 10_000, gapMs: 60_000, attemptsAtLeast: 3, maxKeys: 2 });

describe('RedoClock', () => {
  it('expires once failures have lasted redoForMs over enough attempts, and not before', () => {
    const c = clock();
    expect(c.expired('k', 0)).toBe(false);
    c.failed('k', 0);
    c.failed('k', 5_000);
    expect(c.expired('k', 10_001)).toBe(false); // two attempts only
    c.failed('k', 9_000);
    expect(c.expired('k', 10_000)).toBe(false); // not longer than redoForMs yet
    expect(c.expired('k', 10_001)).toBe(true);
  });

  it('many attempts in a short time are not enough', () => {
    const c = clock();
    for (let t = 0; t < 1_000; t += 10) c.failed('k', t);
    expect(c.expired('k', 1_000)).toBe(false);
  });

  it('forget ends the episode', () => {
    const c = clock();
    for (const t of [0, 4_000, 8_000, 12_000]) c.failed('k', t);
    expect(c.expired('k', 12_000)).toBe(true);
    c.forget('k');
    expect(c.expired('k', 12_000)).toBe(false);
    c.failed('k', 13_000);
    expect(c.expired('k', 13_000)).toBe(false);
  });

  it('a gap longer than gapMs starts the clock again, and an old episode reads as over', () => {
    const c = clock();
    for (const t of [0, 4_000, 8_000, 12_000]) c.failed('k', t);
    expect(c.expired('k', 12_000 + 60_001)).toBe(false); // nothing failed for longer than the gap
    c.failed('k', 100_000);
    c.failed('k', 101_000);
    c.failed('k', 102_000);
    expect(c.expired('k', 105_000)).toBe(false); // since 100,000, not 0
    expect(c.expired('k', 110_001)).toBe(true);
  });

  it('keeps keys apart, and forgets them all past maxKeys rather than growing', () => {
    const c = clock();
    for (const t of [0, 4_000, 8_000, 12_000]) c.failed('a', t);
    c.failed('b', 12_000);
    expect(c.expired('a', 12_000)).toBe(true);
    expect(c.expired('b', 12_000)).toBe(false);
    c.failed('c', 12_000); // a third key: the bound is reached
    expect(c.expired('a', 12_000)).toBe(false);
    c.failed('c', 13_000); // a known key is not a new one
    for (const t of [16_000, 20_000, 24_000]) c.failed('c', t);
    expect(c.expired('c', 24_000)).toBe(true);
  });

  it('boundaries: a gap of exactly gapMs is still one episode; forgetting an unknown key is harmless; failures after expiry keep it expired', () => {
    const c = clock();
    c.forget('never-seen');
    for (const t of [0, 60_000, 120_000]) c.failed('k', t);
    expect(c.expired('k', 120_000)).toBe(true);
    expect(c.expired('k', 180_000)).toBe(true); // exactly gapMs since the last failure
    for (const t of [130_000, 140_000, 150_000]) c.failed('k', t);
    expect(c.expired('k', 200_000)).toBe(true);
  });
});
