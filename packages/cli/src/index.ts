export { run } from './program.js';
export { EXIT, InputError, printable, terminalSafe, type Io } from './io.js';
export { adminEnv, kafkaPublisher, type AdminEnv } from './admin/connections.js';
