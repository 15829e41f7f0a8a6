/**
 * hush completion bash|zsh|fish: prints a completion script for that shell on stdout (see
 * src/cli/completion.ts; README "Shell completion" has the line to add to a shell rc).
 * No keyring, no relay, no home needed.
 */
import { UsageError } from '../../errors.js';
import { completionScript, type Shell, SHELLS } from '../completion.js';
import { GLOBAL_OPTIONS } from '../global-options.js';
import { COMMANDS, type CommandRun } from './index.js';

export const run: CommandRun = async (ctx, args) => {
  const shell = String(args.shell);
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError('BAD_SHELL', `no completion for the shell "${shell}"`, { hint: `choose one of ${SHELLS.join(', ')}: hush completion bash` });
  }
  process.stdout.write(completionScript(shell as Shell, COMMANDS, GLOBAL_OPTIONS));
  await Promise.resolve(ctx);
};
