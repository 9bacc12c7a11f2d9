import { expect } from 'vitest';

/**
 * Polls `fn` until it returns something other than undefined and returns that (vitest's expect.poll:
 * the test fails naming `what` when the timeout passes first).
 */
export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  what: string,
  options: { timeout?: number; interval?: number } = {},
): Promise<T> {
  let value: T | undefined;
  await expect
    .poll(async () => (value = await fn()), {
      timeout: options.timeout ?? 30_000,
      interval: options.interval ?? 100,
      message: `timed out waiting for ${what}`,
    })
    .toBeDefined();
  return value as T;
}
