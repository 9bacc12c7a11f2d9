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

/**
 * Characters a terminal obeys rather than shows: C0 controls (tab and newline aside), DEL, C1
 * controls (U+009B is an 8-bit CSI) and the bidirectional overrides and isolates that reorder what
 * is shown (Trojan Source).
 */
// eslint-disable-next-line no-control-regex -- finding control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// eslint-disable-next-line no-control-regex -- the same, with tab, newline and CR
const CONTROL_OR_LAYOUT = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * `\u001b` for ESC: visible, and inside a JSON string the very same character to a JSON parser, so
 * `--json` output stays exact.
 */
const escapeChar = (c: string): string => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * One user-controlled value (a step name, a reason) for human-readable output: every control
 * character shown escaped, tab, newline and CR too, so a value can neither drive the terminal nor
 * forge lines of the output around it.
 */
export function printable(value: string): string {
  return value.replace(CONTROL_OR_LAYOUT, escapeChar);
}

/**
 * What the CLI writes, made safe for a terminal whatever it holds: control characters are shown
 * escaped. A leading carriage return is kept (progress lines redraw themselves with it).
 */
export function terminalSafe(text: string): string {
  const lead = text.startsWith('\r') ? '\r' : '';
  return lead + text.slice(lead.length).replace(CONTROL, escapeChar);
}

/** An Io whose every write goes through `terminalSafe`. */
export function terminalSafeIo(io: Io): Io {
  return { ...io, out: (t) => io.out(terminalSafe(t)), err: (t) => io.err(terminalSafe(t)) };
}

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
