/** One problem in a bundle or request, with the JSON path it is at. */
export interface ValidationIssue {
  path: string;
  message: string;
}

export class BundleValidationError extends Error {
  constructor(readonly issues: readonly ValidationIssue[]) {
    super(`invalid policy bundle: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'BundleValidationError';
  }
}

/** Renders a zod issue path like ["policies", 2, "conditions", 0, "field"] as policies[2].conditions[0].field. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) out += typeof key === 'number' ? `[${key}]` : out === '' ? String(key) : `.${String(key)}`;
  return out === '' ? '(root)' : out;
}
