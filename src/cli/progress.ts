/**
 * Status lines for long waits, on stderr and only on a terminal (never on a pipe, never with
 * --json): a spinner with a label that appears after a short delay, so quick operations show
 * nothing, and is erased when the wait is over.
 *
 *   const stop = startSpinner('waiting for ws://… to greet', { delayMs: 1000 });
 *   try { await slowThing(); } finally { stop(); }
 *
 * watchRelayConnects() shows one while a relay is slow to greet (a relay that accepts TCP and
 * says nothing would otherwise leave a blank terminal until the 15 s timeout).
 */
import { RelayClient } from '../client/relay-client.js';
import type { Output } from './output.js';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface SpinnerOptions {
  /** Show nothing until this many ms have passed (default 1000). */
  delayMs?: number;
  stream?: NodeJS.WriteStream;
  /** false: never draw (e.g. --json). */
  enabled?: boolean;
}

/** Starts a spinner labelled `label`; the returned function stops it and erases its line. */
export function startSpinner(label: string, opts: SpinnerOptions = {}): () => void {
  const stream = opts.stream ?? process.stderr;
  if (opts.enabled === false || !stream.isTTY) return () => undefined;
  const started = Date.now();
  let frame = 0;
  let drawn = false;
  let ticker: NodeJS.Timeout | undefined;
  const draw = (): void => {
    const secs = Math.floor((Date.now() - started) / 1000);
    stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${label}${secs >= 2 ? ` (${secs} s)` : ''}`);
    drawn = true;
  };
  const delay = setTimeout(() => {
    draw();
    ticker = setInterval(draw, 100);
    ticker.unref();
  }, opts.delayMs ?? 1000);
  delay.unref();
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearTimeout(delay);
    if (ticker) clearInterval(ticker);
    if (drawn) stream.write('\r\x1b[2K');
  };
}

/**
 * From now on, every relay connection attempt of this process shows "waiting for URL to greet"
 * after a second without an answer (terminal only, not with --json).
 */
export function watchRelayConnects(out: Output): void {
  RelayClient.observeConnects((url) => startSpinner(`waiting for ${url} to greet`, { enabled: !out.json }));
}
