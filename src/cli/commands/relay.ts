/**
 * hush relay [args...]: runs the bundled relay (relay/main.ts `relayMain(args)`), handing it
 * every argument after `relay` untouched (its own --help included). Same code as hush-relay.
 */
import { InternalError } from '../../errors.js';
import type { CommandRun } from './index.js';

type RelayMain = (argv: string[]) => unknown;

export const run: CommandRun = async (_ctx, args) => {
  // dist/src/cli/commands/relay.js -> dist/relay/main.js (the same relative path in src/). A
  // literal path, so that scripts/bundle.mjs puts the relay in the bundle.
  let mod: { relayMain?: RelayMain };
  try {
    mod = (await import('../../../relay/main.js')) as { relayMain?: RelayMain };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new InternalError('NO_RELAY', 'the relay is not part of this build', { hint: 'run npm run build', cause: err });
    }
    throw err;
  }
  if (typeof mod.relayMain !== 'function') throw new InternalError('NO_RELAY', 'the relay module has no relayMain');
  await mod.relayMain(Array.isArray(args.argv) ? args.argv : []);
};
