import { settingsOrExit } from '@stepgate/runtime';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { configFromEnv } from './config.js';
import { ApprovalsService } from './service.js';

// The worker's own logs (bundling, state changes) only from WARN up; the service logs with pino.
Runtime.install({ logger: new DefaultLogger(process.env.TEMPORAL_LOG_LEVEL === 'INFO' ? 'INFO' : 'WARN') });
const service = new ApprovalsService(settingsOrExit(configFromEnv));
await service.start();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void service.stop().then(() => process.exit(0));
  });
}
