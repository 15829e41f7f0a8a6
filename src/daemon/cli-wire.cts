/**
 * The client's half of the daemon's `cli.run` exchange (docs/RPC.md), shared by the CLI's
 * connector (./connector.ts) and its fast path (src/cli/fast-path.cts): the terminal facts sent
 * with the request, and the reading of the daemon's lines (`cli.output` copied to stdout or
 * stderr, then the answer). CommonJS (.cts), like ./socket-path.cts, so that the fast path,
 * which loads no ESM module, can require it; it loads nothing itself.
 */
import type * as Net from 'node:net';
import { writeSync } from 'node:fs';

export interface Terminal {
  stdoutTTY: boolean;
  stderrTTY: boolean;
  stdinTTY: boolean;
  stdoutDepth: number;
  stderrDepth: number;
}

/**
 * What the daemon needs to know of this process's terminal to format like the CLI would.
 *
 * Asked of the file descriptors (`tty.isatty`), not of process.stdin/stdout/stderr: touching
 * those creates a stream for each (for a piped or file stdin that loads fs's streams), a few ms
 * of a fast-path `hush send` (~10% of its start-up in a profile) for three booleans. A stream is
 * made only for a terminal, to ask its colour depth. node:tty is required here, not at load:
 * a command that finds no daemon never needs it.
 */
export function terminalOf(): Terminal {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { isatty } = require('node:tty') as typeof import('node:tty');
  const stdoutTTY = isatty(1);
  const stderrTTY = isatty(2);
  const depth = (tty: boolean, stream: () => NodeJS.WriteStream): number => {
    if (!tty) return 1;
    const s = stream();
    return typeof s.getColorDepth === 'function' ? s.getColorDepth() : 1;
  };
  return {
    stdoutTTY,
    stderrTTY,
    stdinTTY: isatty(0),
    stdoutDepth: depth(stdoutTTY, () => process.stdout),
    stderrDepth: depth(stderrTTY, () => process.stderr),
  };
}

/** How each of fd 1 and 2 is written: straight to the fd, or through Node's stream (a terminal, or after a write that would block). */
const modes: { 1?: 'fd' | 'stream'; 2?: 'fd' | 'stream' } = {};

/**
 * Writes `text` to fd 1 or 2 as the CLI's own streams would, without creating them when the fd
 * is a pipe or a file: Node writes those synchronously anyway (process.stdout on a pipe is
 * blocking on Linux), so `fs.writeSync` keeps the same order and the same bytes, and the fast
 * path never builds a stream to write one line. A terminal keeps the stream. A write that
 * would block (a non-blocking pipe that is full) hands the rest, and everything after it, to
 * the stream, which waits. A closed stdout (`hush … | head`) goes to `stdoutClosed` (the CLI
 * ends the process as main.ts does), from the fd or from the stream; a closed stderr drops the
 * text: there is nowhere to show it.
 */
export function writeOutput(fd: 1 | 2, text: string, stdoutClosed: () => void): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  if (modes[fd] === undefined && (require('node:tty') as typeof import('node:tty')).isatty(fd)) useStream(fd, stdoutClosed);
  if (modes[fd] === 'stream') {
    (fd === 1 ? process.stdout : process.stderr).write(text);
    return;
  }
  modes[fd] = 'fd';
  const bytes = Buffer.from(text, 'utf8');
  let off = 0;
  try {
    while (off < bytes.length) off += writeSync(fd, bytes, off);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EPIPE') {
      if (fd === 1) stdoutClosed();
      return;
    }
    if (code !== 'EAGAIN') throw e;
    useStream(fd, stdoutClosed);
    (fd === 1 ? process.stdout : process.stderr).write(bytes.subarray(off));
  }
}

function useStream(fd: 1 | 2, stdoutClosed: () => void): void {
  modes[fd] = 'stream';
  if (fd === 1)
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      stdoutClosed();
    });
}

/** The daemon's answer to request `id` (a JSON-RPC response: result or error). */
export interface CliAnswer {
  id?: unknown;
  error?: { code: number; message: string; data?: { hint?: string } };
  result?: { exitCode?: unknown };
}

/**
 * Reads the daemon's lines on `socket`: each `cli.output` of request `id` is written to stdout
 * or stderr as it comes, the response to `id` goes to `onAnswer`. Lines that do not parse, and
 * other requests' lines, are skipped.
 */
export function readCliLines(socket: Net.Socket, id: number, onAnswer: (msg: CliAnswer) => void, stdoutClosed: () => void): void {
  let buf = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    buf += chunk;
    for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
      const text = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let msg: CliAnswer & { method?: unknown; params?: { request?: unknown; stream?: unknown; text?: unknown } };
      try {
        msg = JSON.parse(text) as typeof msg;
      } catch {
        continue;
      }
      if (msg.method === 'cli.output' && msg.params?.request === id && typeof msg.params.text === 'string') {
        writeOutput(msg.params.stream === 'stdout' ? 1 : 2, msg.params.text, stdoutClosed);
      } else if (msg.id === id && msg.method === undefined) {
        onAnswer(msg);
      }
    }
  });
}
