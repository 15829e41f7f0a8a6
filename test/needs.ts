/**
 * The one rule for tests that need something a machine may lack (tmux, a tmpfs mount, an OS
 * keychain, /proc): outside CI a missing tool skips them, with one stderr line saying what is
 * missing; in CI (`CI` set, as in .ci/run's environment) it FAILS instead, because a CI run
 * that silently skipped proves nothing. The failure is a test of its own, registered where the
 * skipped ones would have run, whose message names the tool and why it is unavailable.
 *
 *   describe.skipIf(skipWithout('tmux', whyNoTmux()))('hush chat in a terminal', () => { ... });
 *   it.skipIf(skipWithout('a tmpfs mount', whyNoTmpfs()))('a full disk ...', async () => { ... });
 */
import { spawnSync } from 'node:child_process';
import { it } from 'vitest';

/** True when running in CI: `CI` set to anything but '', 'false' or '0' (.ci/run has CI=true). */
export function inCI(env: NodeJS.ProcessEnv = process.env): boolean {
  const v = env.CI;
  return v !== undefined && v !== '' && v !== 'false' && v !== '0';
}

/**
 * For `describe.skipIf` / `it.skipIf`: `missing` is why `what` is unavailable (undefined when
 * it is there). Returns true to skip. When `required` (default: in CI) and `what` is missing,
 * registers a failing test in the current suite, then returns true so the dependent tests do
 * not run half-equipped.
 */
export function skipWithout(what: string, missing: string | undefined, required = inCI()): boolean {
  if (missing === undefined) return false;
  if (required) {
    it(`needs ${what}`, () => {
      throw new Error(`${what} is required here (CI is set, so missing tools fail instead of skipping) but unavailable: ${missing}`);
    });
  } else {
    process.stderr.write(`SKIPPED: tests that need ${what} (${missing}); in CI they fail instead\n`);
  }
  return true;
}

/** Why util-linux `prlimit` (RLIMIT_FSIZE on a child: a write past it fails with EFBIG, a full disk without a mount) cannot run, or undefined. */
export function whyNoPrlimit(): string | undefined {
  const r = spawnSync('prlimit', ['--version'], { encoding: 'utf8' });
  if (r.error) return `prlimit (util-linux) is not installed: ${r.error.message}`;
  return r.status === 0 ? undefined : `prlimit --version exited ${r.status}`;
}
