import { expect } from 'vitest';

/** The error `p` rejects with, asserted to be a `type` (the test fails if `p` resolves or rejects otherwise). */
export async function rejection<E extends Error>(p: Promise<unknown>, type: new (...args: never[]) => E): Promise<E> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(type);
  return err as E;
}
