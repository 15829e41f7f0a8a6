/**
 * `hush lock`: stops this home's `hush daemon` (it flushes its outbox and wipes the key it
 * held) and removes this home's remembered wrapping key from the OS keychain, so commands
 * ask for the passphrase again. Says whether there was an entry; exits 0 either way (also
 * when no keychain is available, with a hint saying so: then nothing can be remembered).
 * Needs no passphrase and no keyring file.
 *
 * --json: {"home":S,"removed":bool,"keychain":"available"|"unavailable","reason"?:S,
 *          "daemon":"stopped"|"none"}
 */
import { stopDaemon } from '../../daemon/connector.js';
import { forget } from '../../store/keychain.js';
import { resolveHome } from '../../store/paths.js';
import { printHint } from '../keychain-hook.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx) => {
  const { out, env, global } = ctx;
  const home = resolveHome(global.home, env);
  const daemon = await stopDaemon(home);
  if (daemon === 'stopped') out.text(`stopped the hush daemon of ${home}; it forgot the key it held`);
  const r = await forget(home, { env });
  if (r.status === 'unavailable') {
    out.data({ home, removed: false, keychain: 'unavailable', reason: r.reason, daemon }, `nothing to remove: no OS keychain is available here`);
    printHint(out, `the OS keychain is not available (${r.reason}), so no key can be remembered for ${home}`);
    return;
  }
  const removed = r.status === 'removed';
  out.data(
    { home, removed, keychain: 'available', daemon },
    removed ? `forgot the remembered key of ${home}; commands ask for the passphrase again` : `no key was remembered for ${home}; nothing to remove`,
  );
};
