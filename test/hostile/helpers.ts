/**
 * Helpers of the hostile suite (issue 6): the real relay process and raw clients come from the
 * integration helpers; this adds memory readings of a child process and scale knobs read from
 * the environment, so CI runs the defaults and a person can turn them up:
 *
 *   HUSH_HOSTILE_CONNS=5000 HUSH_HOSTILE_MESSAGES=20000 npx vitest run --project hostile
 */
import { readFileSync } from 'node:fs';

export * from '../integration/helpers.js';

/** A positive integer from the environment, else `def`. */
export function scale(name: string, def: number): number {
  const v = Number(process.env[name]);
  return Number.isSafeInteger(v) && v > 0 ? v : def;
}

/** Resident set size of a process in KiB (VmRSS of /proc/PID/status). */
export function rssKb(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(m[1]);
}

/** Factor by which a relay's RSS may grow across one hostile test (stated in docs/SECURITY.md). */
export const RSS_FACTOR = 3;
/** Absolute slack (KiB) on top of the factor: V8 and SQLite grow their caches a little on first use. */
export const RSS_SLACK_KB = 48 * 1024;

/** Figures collected while the suite runs, printed at the end of each file for docs/SECURITY.md. */
export const figures: Record<string, number | string> = {};
export function figure(name: string, value: number | string): void {
  figures[name] = value;
  process.stderr.write(`hostile figure: ${name} = ${value}\n`);
}
