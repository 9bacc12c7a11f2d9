import { settingsOrExit } from '@stepgate/runtime';
import { configFromEnv } from './config.js';
import { Evaluator } from './evaluator.js';

const evaluator = new Evaluator(settingsOrExit(configFromEnv));
await evaluator.start();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void evaluator.stop().then(() => process.exit(0));
  });
}
