export { run } from './program.js';
export { EXIT, InputError, printable, terminalSafe, type Io } from './io.js';
