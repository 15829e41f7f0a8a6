// Real terminals for CLI tests: a command line in its own tmux server (one socket per
// terminal, killed by killTerminals()), read by polling the screen for an expected state.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { execa } from 'execa';
import { makeHome } from './helpers.js';

/** Why tmux cannot be used here, or undefined when it can (for skipWithout, test/needs.ts). */
export function whyNoTmux(): string | undefined {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return undefined;
  } catch (e) {
    return `tmux -V failed (${(e as Error).message.split('\n')[0]}); .ci/run installs it`;
  }
}

export function hasTmux(): boolean {
  return whyNoTmux() === undefined;
}

/** How long waitFor polls a screen before it fails (a bound on a hang, not a timing assertion). */
export const WAIT_DEADLINE_MS = 20_000;

const sockets: string[] = [];

/** Kills every tmux server terminal() started; call it in afterAll. */
export async function killTerminals(): Promise<void> {
  for (const s of sockets.splice(0)) await execa('tmux', ['-S', s, 'kill-server'], { reject: false });
}

/** A shell command line running in its own tmux terminal (`width` x 40). */
export async function terminal(command: string, env: Record<string, string>, width = 150) {
  const dir = await makeHome('hush-tmux-');
  const sock = path.join(dir, 'sock');
  sockets.push(sock);
  const tmux = (...args: string[]) => execa('tmux', ['-S', sock, ...args], { env, extendEnv: false });
  await tmux('new-session', '-d', '-x', String(width), '-y', '40', `${command}; echo EXIT=$?; read _`);
  const screen = async (escapes = false): Promise<string> => (await tmux('capture-pane', '-p', '-J', ...(escapes ? ['-e'] : []))).stdout;
  /**
   * Polls the screen until `re` shows up (condition-based, not a fixed sleep); fails at once
   * when the command ended without showing it, and after `deadlineMs` with the screen as it
   * was last seen in the message.
   */
  const waitFor = async (re: RegExp, escapes = false, deadlineMs = WAIT_DEADLINE_MS): Promise<string> => {
    const until = Date.now() + deadlineMs;
    for (;;) {
      const s = await screen(escapes);
      if (re.test(s)) return s;
      if (/EXIT=\d+/.test(s)) throw new Error(`the command ended without showing ${re}; the screen:\n${s}`);
      if (Date.now() >= until) throw new Error(`${re} did not show within ${deadlineMs} ms; the screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  const type = async (text: string): Promise<void> => {
    await tmux('send-keys', '-l', text);
    await tmux('send-keys', 'Enter');
  };
  /** tmux key names, e.g. 'C-c', 'C-d'. */
  const keys = async (...names: string[]): Promise<void> => {
    await tmux('send-keys', ...names);
  };
  return { waitFor, type, keys };
}
