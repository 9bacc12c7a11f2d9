export { run } from './program.js';
export { EXIT, InputError, printable, terminalSafe, type Io } from './io.js';
export { adminEnv, kafkaPublisher, type AdminEnv } from './admin/connections.js';
export { ReplayTally, renderReplay, type ReplayReport } from './replay.js';
export { replayWindow } from './commands/replay.js';
export { versionDiff, renderDiff } from './commands/policies.js';
