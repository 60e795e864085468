/** The `ftk` program: commands over the library API (src/index.ts), one error handler. */
import { Command, CommanderError } from 'commander';
import { autoCommand } from './commands/auto.js';
import { benchCommand } from './commands/bench.js';
import { bottleneckCommand } from './commands/bottleneck.js';
import { exportCommand, serveCommand } from './commands/export.js';
import { infoCommand } from './commands/info.js';
import { reportCommand } from './commands/report.js';
import { finetuneCommand, predictCommand } from './commands/finetune.js';
import { svmCommand } from './commands/svm.js';
import { suggestCommand } from './commands/suggest.js';
import { reportError } from './io.js';
import { packageInfo } from '../runtime/package_info.js';

export function buildProgram(): Command {
  const pkg = packageInfo();
  const program = new Command('ftk')
    .description(pkg.description)
    .version(pkg.version)
    .showHelpAfterError('(run with --help for usage)')
    .showSuggestionAfterError(true);
  program.addCommand(infoCommand());
  program.addCommand(bottleneckCommand());
  program.addCommand(finetuneCommand()).addCommand(predictCommand());
  program.addCommand(svmCommand());
  program.addCommand(autoCommand());
  program.addCommand(reportCommand());
  program.addCommand(benchCommand());
  program.addCommand(exportCommand()).addCommand(serveCommand());
  program.addCommand(suggestCommand());
  return program;
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const cmd of program.commands) cmd.exitOverride();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    return reportError(err);
  }
}
