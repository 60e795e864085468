/** Parsing a CLI command the way `ftk` does, without running it: what its action would receive. */
import assert from 'node:assert/strict';
import { Command } from 'commander';

/** Parses `argv` (after `ftk`) with `cmd` added to a program; errors throw instead of exiting or printing. */
export async function parseArgv(cmd: Command, argv: string[]): Promise<void> {
  const program = new Command('ftk').exitOverride();
  for (const c of [cmd, ...cmd.commands]) c.exitOverride().configureOutput({ writeErr: () => undefined });
  program.addCommand(cmd);
  await program.parseAsync(['node', 'ftk', ...argv]);
}

/** The context a command's action receives for `argv`; `build` makes the command from an action. */
export async function parseContext<T>(build: (action: (ctx: T) => Promise<number>) => Command, argv: string[]): Promise<T> {
  let seen: T | undefined;
  await parseArgv(
    build(async (ctx) => {
      seen = ctx;
      return 0;
    }),
    argv,
  );
  assert.ok(seen, 'action called');
  return seen;
}
