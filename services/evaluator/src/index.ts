export { Evaluator } from './evaluator.js';
export { configFromEnv, type EvaluatorConfig } from './config.js';
