import { z } from 'zod';

/**
 * Field types for environment variables. Each says what it expects in words, since that text is what
 * an operator reads when startup refuses a value.
 */
export const envField = {
  /** A whole number within [min, max], e.g. a timeout in milliseconds. */
  integer: (min: number, max: number) =>
    z
      .string()
      .trim()
      .regex(/^-?\d+$/, `expected a whole number from ${min} to ${max}`)
      .transform(Number)
      .pipe(z.number().int().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`)),
  /** A TCP port. */
  port: () => envField.integer(0, 65_535),
  /** A number within [min, max]. */
  number: (min: number, max: number) =>
    z
      .string()
      .trim()
      .regex(/^-?\d+(\.\d+)?$/, `expected a number from ${min} to ${max}`)
      .transform(Number)
      .pipe(z.number().min(min, `expected at least ${min}`).max(max, `expected at most ${max}`)),
  /** A non-empty string. */
  text: () => z.string().trim().min(1, 'expected a non-empty value'),
  /** `true` or `false`. */
  flag: () => z.enum(['true', 'false'], { error: 'expected true or false' }).transform((v) => v === 'true'),
  /** A comma-separated list of non-empty items. */
  list: () =>
    z
      .string()
      .transform((s) =>
        s
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean),
      )
      .pipe(z.array(z.string()).min(1, 'expected a comma-separated list')),
  /** One host:port. */
  hostPort: () =>
    z
      .string()
      .trim()
      .regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port'),
  /** Comma-separated host:port pairs. */
  hostPorts: () =>
    envField.list().pipe(z.array(z.string().regex(/^[^\s:/]+:\d{1,5}$/, 'expected host:port, comma-separated')).min(1)),
  /** A URL. */
  url: () => z.url({ error: 'expected a URL' }),
  /** A Postgres connection URL. */
  postgresUrl: () => z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
  /** A Postgres identifier (a schema name). */
  identifier: () => z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'expected a lower-case SQL identifier'),
};
