import { RE2JS } from 're2js';

export const OPERATORS = [
  'equals',
  'not_equals',
  'contains',
  'not_contains',
  'contains_any',
  'greater_than',
  'less_than',
  'regex',
  'in',
  'not_in',
] as const;
export type Operator = (typeof OPERATORS)[number];

/** Why a condition could not be evaluated; it then does not match (negative operators: it does). */
export interface UnevaluableCounts {
  missing_field: number;
  type_mismatch: number;
}

/** A compiled condition test: value is undefined when the field is absent from the request. */
export type ValueTest = (value: unknown, unevaluable: UnevaluableCounts) => boolean;

const NEGATED: Partial<Record<Operator, Operator>> = { not_equals: 'equals', not_contains: 'contains', not_in: 'in' };

/** Load-time check of a condition's operand; returns what is wrong, or undefined. */
export function operandProblem(operator: Operator, operand: unknown): string | undefined {
  switch (operator) {
    case 'equals':
    case 'not_equals':
      return operand === undefined ? 'expected a JSON value to compare with' : undefined;
    case 'contains':
    case 'not_contains':
      return isScalar(operand) ? undefined : 'expected a string, number or boolean';
    case 'contains_any':
    case 'in':
    case 'not_in':
      return Array.isArray(operand) && operand.length > 0 ? undefined : 'expected a non-empty array';
    case 'greater_than':
    case 'less_than':
      return typeof operand === 'number' && Number.isFinite(operand) ? undefined : 'expected a finite number';
    case 'regex':
      if (typeof operand !== 'string') return 'expected a regular expression string';
      try {
        RE2JS.compile(operand);
        return undefined;
      } catch (err) {
        return `regex does not compile (RE2 syntax): ${err instanceof Error ? err.message : String(err)}`;
      }
  }
}

/** Compiles an operator and its (already validated) operand into a test. */
export function compileOperator(operator: Operator, operand: unknown): ValueTest {
  const positive = NEGATED[operator];
  if (positive) {
    const test = compilePositive(positive, operand);
    // Fail closed: a missing field matches the negative operators, so "block all but X" stays blocking.
    return (value, u) => !test(value, u);
  }
  return compilePositive(operator, operand);
}

function compilePositive(operator: Operator, operand: unknown): ValueTest {
  switch (operator) {
    case 'equals':
      return (value, u) => present(value, u) && jsonEquals(value, operand);
    case 'contains': {
      const needle = typeof operand === 'string' ? operand.toLowerCase() : undefined;
      return (value, u) => {
        if (!present(value, u)) return false;
        if (typeof value === 'string' && needle !== undefined) return value.toLowerCase().includes(needle);
        if (Array.isArray(value)) return value.some((item) => jsonEquals(item, operand));
        return mismatch(u);
      };
    }
    case 'contains_any': {
      const options = operand as unknown[];
      const needles = options.filter((o): o is string => typeof o === 'string').map((o) => o.toLowerCase());
      return (value, u) => {
        if (!present(value, u)) return false;
        if (typeof value === 'string') {
          const haystack = value.toLowerCase();
          return needles.some((n) => haystack.includes(n));
        }
        if (Array.isArray(value)) return value.some((item) => options.some((o) => jsonEquals(item, o)));
        return mismatch(u);
      };
    }
    case 'in': {
      const options = operand as unknown[];
      const scalars = options.every(isScalar) ? new Set<unknown>(options) : undefined;
      return (value, u) => {
        if (!present(value, u)) return false;
        return scalars ? scalars.has(value) : options.some((o) => jsonEquals(value, o));
      };
    }
    case 'greater_than':
    case 'less_than': {
      const bound = operand as number;
      const greater = operator === 'greater_than';
      return (value, u) => {
        if (!present(value, u)) return false;
        if (typeof value !== 'number' || !Number.isFinite(value)) return mismatch(u);
        return greater ? value > bound : value < bound;
      };
    }
    case 'regex': {
      const pattern = RE2JS.compile(operand as string);
      return (value, u) => {
        if (!present(value, u)) return false;
        if (typeof value !== 'string') return mismatch(u);
        return pattern.matcher(value).find();
      };
    }
    default:
      throw new Error(`operator ${operator} has no positive form`);
  }
}

function present(value: unknown, u: UnevaluableCounts): boolean {
  if (value !== undefined) return true;
  u.missing_field++;
  return false;
}

function mismatch(u: UnevaluableCounts): false {
  u.type_mismatch++;
  return false;
}

function isScalar(v: unknown): v is string | number | boolean {
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
}

/** JSON equality: same type and value, arrays element-wise, objects key-wise (key order ignored). */
export function jsonEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bArr = b as unknown[];
    return a.length === bArr.length && a.every((item, i) => jsonEquals(item, bArr[i]));
  }
  const aKeys = Object.keys(a);
  const bObj = b as Record<string, unknown>;
  return (
    aKeys.length === Object.keys(bObj).length &&
    aKeys.every((k) => Object.hasOwn(bObj, k) && jsonEquals((a as Record<string, unknown>)[k], bObj[k]))
  );
}
