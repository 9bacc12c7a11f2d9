import { configFromEnv } from './config.js';
import { ApprovalsService } from './service.js';

const service = new ApprovalsService(configFromEnv());
await service.start();
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void service.stop().then(() => process.exit(0));
  });
}
