/** Where a command writes; tests pass buffers, main.ts passes the process streams. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  cwd: string;
}

export const processIo: Io = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  cwd: process.cwd(),
};

/** Exit codes: 0 ok, 1 tests failed, 2 invalid input (bundle, request, usage or arguments). */
export const EXIT = { ok: 0, failed: 1, invalid: 2 } as const;

/** A problem with the user's input: reported on stderr with exit 2, never a stack trace. */
export class InputError extends Error {
  constructor(
    message: string,
    readonly details: readonly string[] = [],
  ) {
    super(message);
    this.name = 'InputError';
  }
}
