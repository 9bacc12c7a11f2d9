export { run } from './program.js';
export { EXIT, InputError, type Io } from './io.js';
export { adminEnv, kafkaPublisher, type AdminEnv } from './admin/connections.js';
