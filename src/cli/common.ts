/**
 * Helpers shared by command files: the home, the passphrase options, unlocking with a
 * spinner. Commands import this (and the store) lazily through the command table.
 */
import type { CommandContext } from './commands/index.js';
import { type Config, readConfig, resolveRelay } from '../store/config.js';
import { type Unlocked, UNLOCK_LABEL, unlock } from '../store/keyring-store.js';
import type { PassphraseOptions } from '../store/passphrase.js';
import { ensureHome, homeWarnings, hushPaths, type HushPaths, resolveHome } from '../store/paths.js';

/**
 * The home's paths. `create: true` makes the directory (0700) when missing. Warnings about
 * its mode go to stderr.
 */
export async function homePaths(ctx: CommandContext, opts: { create?: boolean } = {}): Promise<HushPaths> {
  const home = resolveHome(ctx.global.home, ctx.env);
  if (opts.create) {
    const { paths, warnings } = await ensureHome(home);
    for (const w of warnings) ctx.out.warn(w);
    return paths;
  }
  for (const w of await (ctx.backend?.homeWarnings ?? homeWarnings)(home)) ctx.out.warn(w);
  return hushPaths(home);
}

export function passphraseOptions(ctx: CommandContext): PassphraseOptions {
  return { passphraseFile: ctx.global.passphraseFile, passphraseFd: ctx.global.passphraseFd, env: ctx.env };
}

/** Opens the keyring of the home (passphrase sources in order; spinner on a TTY). */
export async function unlockHome(ctx: CommandContext, paths?: HushPaths): Promise<{ paths: HushPaths; unlocked: Unlocked }> {
  const p = paths ?? (await homePaths(ctx));
  if (ctx.backend) return { paths: p, unlocked: ctx.backend.unlocked() }; // hush daemon holds it
  const early = ctx.early;
  if (early && !early.taken && early.home === p.home) {
    // Started while the command's modules loaded (src/cli/early-unlock.ts): its result, or its error, now.
    early.taken = true;
    return { paths: p, unlocked: await (early.settled ? early.result : ctx.out.progress(UNLOCK_LABEL, () => early.result)) };
  }
  const unlocked = await unlock(p, { ...passphraseOptions(ctx), progress: (label, fn) => ctx.out.progress(label, fn) });
  return { paths: p, unlocked };
}

/**
 * A line for a person at a terminal (what to type next, "no new messages"): on stderr, only
 * when stderr is a terminal and not with --json, so scripts and pipes never see it.
 */
export function tip(ctx: CommandContext, line: string): void {
  if (!ctx.out.json && (ctx.stderrTTY ?? process.stderr.isTTY)) ctx.out.info(line);
}

/** The relay URL from --relay, HUSH_RELAY or config.json (undefined when none is set). */
export async function relayUrl(ctx: CommandContext, paths: HushPaths, config?: Config): Promise<string | undefined> {
  return resolveRelay(ctx.global.relay, ctx.env, config ?? (await readConfig(paths)))?.url;
}
