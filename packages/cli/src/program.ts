import { Command, CommanderError } from 'commander';
import { evalCommand } from './commands/eval.js';
import { lintCommand } from './commands/lint.js';
import { testCommand } from './commands/test.js';
import { EXIT, InputError, processIo, type Io } from './io.js';

/** Runs the CLI with `argv` (without node and script) and returns the exit code. */
export async function run(argv: readonly string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const guard = (action: () => Promise<number>) => async () => {
    code = await action();
  };
  const program = new Command('stepgate')
    .description('Governance for AI-agent workflows: step gates, approvals and audit.')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });

  program
    .command('eval')
    .description('decide one gate request offline against a bundle; prints the decision JSON')
    .requiredOption('--bundle <file>', 'tenant policy bundle (JSON or YAML)')
    .requiredOption('--request <file>', 'gate request (JSON or YAML)')
    .option('--now <iso>', 'evaluation time (default: the current time)')
    .option('--usage <file>', 'usage counters by key, for rate-limit, budget and delegation spend')
    .action((opts: { bundle: string; request: string; now?: string; usage?: string }) => guard(() => evalCommand(opts, io))());

  program
    .command('lint')
    .description('validate a bundle and report every problem at once')
    .requiredOption('--bundle <file>', 'tenant policy bundle (JSON or YAML)')
    .action((opts: { bundle: string }) => guard(() => lintCommand(opts, io))());

  program
    .command('test')
    .description('run policy tests: *.test.json / *.test.yaml files of a bundle and cases with expected decisions')
    .argument('<dir>', 'folder with policy test files')
    .action((dir: string) => guard(() => testCommand(dir, io))());

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.invalid;
    if (err instanceof InputError) {
      io.err(`stepgate: ${err.message}\n${err.details.map((d) => `  ${d}\n`).join('')}`);
      return EXIT.invalid;
    }
    throw err;
  }
}
