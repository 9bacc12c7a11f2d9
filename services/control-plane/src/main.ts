import { settingsOrExit } from '@stepgate/runtime';
import { configFromEnv } from './config.js';
import { ControlPlane } from './service.js';

const service = new ControlPlane(settingsOrExit(configFromEnv));
await service.start();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void service.stop().then(() => process.exit(0));
  });
}
