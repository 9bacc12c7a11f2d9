/** Caps on a message value, checked before and after parsing. */
export const MAX_VALUE_BYTES = 256 * 1024;
export const MAX_JSON_DEPTH = 32;
export const MAX_COMPLETION_OUTPUT_BYTES = 64 * 1024;

/** Nesting depth of a parsed JSON value (a scalar is 0). Iterative: no recursion limit to hit. */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    max = Math.max(max, depth + 1);
    for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push([child, depth + 1]);
  }
  return max;
}
