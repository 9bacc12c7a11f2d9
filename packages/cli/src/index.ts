export { run } from './program.js';
export { EXIT, InputError, type Io } from './io.js';
