export * from './bundle.js';
export * from './compile.js';
export * from './errors.js';
export * from './evaluate.js';
export * from './fields.js';
export * from './input.js';
export { OPERATORS, type Operator, type UnevaluableCounts, jsonEquals } from './operators.js';
export * from './result.js';
export { scopeCovers, toolAccessOf } from './checks.js';
