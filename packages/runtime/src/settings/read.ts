import type { z } from 'zod';

export interface SettingsProblem {
  variable: string;
  expected: string;
  /** The value as given, shortened; never printed for variables that may hold secrets. */
  got: string | undefined;
}

/** Startup refused: every variable that was wrong, and what it should have been. */
export class SettingsError extends Error {
  constructor(
    readonly process: string,
    readonly problems: SettingsProblem[],
  ) {
    super(
      `${process}: invalid settings:\n` +
        problems
          .map((p) => `  ${p.variable}: ${p.expected}${p.got === undefined ? '' : ` (got ${JSON.stringify(p.got)})`}`)
          .join('\n'),
    );
    this.name = 'SettingsError';
  }
}

const SECRET = /PASSWORD|SECRET|TOKEN|KEY(?!_FILE|_ID)|DATABASE_URL/;

/**
 * Reads a process's environment through its schema. Unset and empty variables count as absent, so
 * defaults apply; a wrong value stops startup with a SettingsError naming each variable.
 */
export function readSettings<S extends z.ZodObject>(
  process: string,
  schema: S,
  env: NodeJS.ProcessEnv = globalThis.process.env,
): z.output<S> {
  const present: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') present[key] = value;
  }
  const parsed = schema.safeParse(present);
  if (parsed.success) return parsed.data;
  throw new SettingsError(
    process,
    parsed.error.issues.map((issue) => {
      const variable = String(issue.path[0] ?? '(environment)');
      const given = present[variable];
      return {
        variable,
        expected: issue.code === 'invalid_type' && given === undefined ? 'required' : issue.message,
        got: given === undefined || SECRET.test(variable) ? undefined : given.slice(0, 80),
      };
    }),
  );
}

/** For a service's main: its settings, or a message naming every bad variable and exit code 78 (EX_CONFIG). */
export function settingsOrExit<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    process.stderr.write(`${err.message}\n`);
    process.exit(78);
  }
}
