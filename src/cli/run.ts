/**
 * The one error boundary of hush: turns anything thrown by a command into the house output
 * (`hush: error: …` / `hush: hint: …` on stderr) and an exit code (src/errors.ts ExitCode).
 *
 *   HushError            -> its kind's exit code (usage 2, passphrase 3, relay 4, trust 5, data 6)
 *   commander usage error -> 2 with `hint: run hush <cmd> --help`
 *   anything else         -> 1, `internal error: <message>`
 *
 * The stack (and the cause chain) is printed only when HUSH_DEBUG=1.
 */
import { ExitCode, isHushError } from '../errors.js';
import type { Output } from './output.js';

function debugDump(out: Output, err: unknown, env: NodeJS.ProcessEnv): void {
  if (env.HUSH_DEBUG !== '1') return;
  let e: unknown = err;
  for (let depth = 0; e !== undefined && depth < 5; depth++) {
    out.info(e instanceof Error ? (e.stack ?? String(e)) : String(e));
    e = e instanceof Error ? e.cause : undefined;
    if (e !== undefined) out.info('caused by:');
  }
}

/** Prints `err` in the house format and returns the exit code for it. */
export function reportError(out: Output, err: unknown, env: NodeJS.ProcessEnv = process.env): ExitCode {
  if (isHushError(err)) {
    out.error(err.message, err.hint);
    debugDump(out, err, env);
    return err.exitCode;
  }
  const message = err instanceof Error ? err.message : String(err);
  out.error(
    `internal error: ${message}`,
    env.HUSH_DEBUG === '1' ? 'this is a bug in hush; please report it with the output above' : 'run again with HUSH_DEBUG=1 for details, and report it if it persists',
  );
  debugDump(out, err, env);
  return ExitCode.internal;
}

/** commander's own errors (exitOverride), already known to be usage problems. */
export function reportUsage(out: Output, commanderMessage: string, commandPath: string): ExitCode {
  const lines = commanderMessage
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '');
  const first = (lines[0] ?? 'invalid usage').replace(/^error:\s*/, '');
  const raw = lines
    .slice(1)
    .join(' ')
    .replace(/^\((.*)\)$/, '$1');
  const suggestion = raw.charAt(0).toLowerCase() + raw.slice(1);
  const help = `run ${commandPath} --help`;
  out.error(first, suggestion ? `${suggestion.replace(/\?$/, '')}? ${help}` : help);
  return ExitCode.usage;
}
