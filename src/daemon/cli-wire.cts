/**
 * The client's half of the daemon's `cli.run` exchange (docs/RPC.md), shared by the CLI's
 * connector (./connector.ts) and its fast path (src/cli/fast-path.cts): the terminal facts sent
 * with the request, and the reading of the daemon's lines (`cli.output` copied to stdout or
 * stderr, then the answer). CommonJS (.cts), like ./socket-path.cts, so that the fast path,
 * which loads no ESM module, can require it; it loads nothing itself.
 */
import type * as Net from 'node:net';

export interface Terminal {
  stdoutTTY: boolean;
  stderrTTY: boolean;
  stdinTTY: boolean;
  stdoutDepth: number;
  stderrDepth: number;
}

function depth(stream: NodeJS.WriteStream): number {
  return stream.isTTY && typeof stream.getColorDepth === 'function' ? stream.getColorDepth() : 1;
}

/**
 * What the daemon needs to know of this process's terminal to format like the CLI would.
 * With `isTTY` (src/daemon/light-socket.cts) and neither stdout nor stderr a terminal, the
 * answer comes from the fds alone: no stdio stream is built (a pipe's would load node:net).
 */
export function terminalOf(isTTY?: (fd: number) => boolean): Terminal {
  if (isTTY && !isTTY(1) && !isTTY(2)) return { stdoutTTY: false, stderrTTY: false, stdinTTY: isTTY(0), stdoutDepth: 1, stderrDepth: 1 };
  return {
    stdoutTTY: process.stdout.isTTY === true,
    stderrTTY: process.stderr.isTTY === true,
    stdinTTY: process.stdin.isTTY === true,
    stdoutDepth: depth(process.stdout),
    stderrDepth: depth(process.stderr),
  };
}

/** The daemon's answer to request `id` (a JSON-RPC response: result or error). */
export interface CliAnswer {
  id?: unknown;
  error?: { code: number; message: string; data?: { hint?: string } };
  result?: { exitCode?: unknown };
}

/** Where the daemon's `cli.output` text goes: stdout or stderr of this process. */
export type OutputSink = (stream: 'stdout' | 'stderr', text: string) => void;

/** The process's own stdout and stderr streams (as the connector and a terminal use them). */
export const processStreams: OutputSink = (stream, text) => {
  (stream === 'stdout' ? process.stdout : process.stderr).write(text);
};

/**
 * A reader of the daemon's lines (text as it arrives, in any cuts): each `cli.output` of request
 * `id` goes to `sink` as it comes, the response to `id` goes to `onAnswer`. Lines that do not
 * parse, and other requests' lines, are skipped.
 */
export function cliLineReader(id: number, onAnswer: (msg: CliAnswer) => void, sink: OutputSink = processStreams): (chunk: string) => void {
  let buf = '';
  return (chunk) => {
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
        sink(msg.params.stream === 'stdout' ? 'stdout' : 'stderr', msg.params.text);
      } else if (msg.id === id && msg.method === undefined) {
        onAnswer(msg);
      }
    }
  };
}

/** cliLineReader on a net.Socket, writing to this process's stdout and stderr. */
export function readCliLines(socket: Net.Socket, id: number, onAnswer: (msg: CliAnswer) => void): void {
  socket.setEncoding('utf8');
  socket.on('data', cliLineReader(id, onAnswer));
}
