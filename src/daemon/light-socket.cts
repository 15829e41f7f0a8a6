/**
 * The fast path's client end of the daemon's socket without node:net (src/cli/fast-path.cts).
 *
 * Why: `require('node:net')` loads `stream` and some twenty internal modules, ~5-7 ms of every
 * `hush send` through the daemon, a fifth of what the whole command may cost above `node -e 0`
 * (docs/PERFORMANCE.md, the `daemon-send` row). The same libuv pipe that net.Socket wraps is
 * reachable through Node's `pipe_wrap`, `stream_wrap` and `tty_wrap` bindings, which
 * `process.binding` still hands out on every Node this package supports (>= 20). That API is
 * deprecated (DEP0111, documentation-only), so this module only takes it when every piece has
 * the shape it expects and Node was not asked to report pending deprecations; otherwise
 * `lightSupport()` says no and the fast path uses node:net as before. Both ends see the same
 * bytes: one request line out, the daemon's lines in (docs/RPC.md, `cli.run`).
 *
 * Output: with no stdio stream built (a pipe's process.stdout would load node:net again),
 * the daemon's `cli.output` text is written with fs.writeSync to fd 1 or 2, waiting out EAGAIN
 * on a non-blocking pipe. A terminal keeps process.stdout/stderr (colour depth comes from the
 * tty module), so only scripts and pipes take the light path.
 */
// Named imports: `import * as` compiles to __importStar, which copies every export of node:fs
// (~0.6 ms of a fast-path start).
import { writeSync } from 'node:fs';

/** The binding pieces used, as Node 20-24 have them (lib/net.js and internal/stream_base_commons.js). */
interface PipeHandle {
  connect(req: object, address: string): number;
  readStart(): number;
  writeUtf8String(req: object, s: string): number;
  close(cb?: () => void): void;
  onread: ((ab: ArrayBuffer | undefined) => void) | undefined;
}
interface Bindings {
  Pipe: new (type: number) => PipeHandle;
  PipeConnectWrap: new () => { oncomplete?: (status: number) => void };
  WriteWrap: new () => { handle?: PipeHandle; oncomplete?: (status: number) => void; async?: boolean };
  socketType: number;
  state: Int32Array;
  kRead: number;
  kOffset: number;
  /** tty.isatty without loading tty (which loads node:net). */
  isTTY(fd: number): boolean;
}

let cached: Bindings | null | undefined;

function pendingDeprecation(env: NodeJS.ProcessEnv): boolean {
  return process.execArgv.some((a) => a === '--pending-deprecation') || env.NODE_PENDING_DEPRECATION === '1' || (env.NODE_OPTIONS ?? '').includes('--pending-deprecation');
}

/** The bindings when this Node has them as expected and may use them, else null (use node:net). */
export function lightSupport(env: NodeJS.ProcessEnv = process.env): Bindings | null {
  if (env.HUSH_LIGHT_SOCKET === '0' || pendingDeprecation(env)) return null;
  if (cached === undefined) cached = loadBindings();
  return cached;
}

function loadBindings(): Bindings | null {
  // Not in @types/node any more; still in Node (lib/internal/bootstrap/realm.js, an allowlist).
  const binding = (process as unknown as { binding?: (name: string) => Record<string, unknown> }).binding;
  if (typeof binding !== 'function') return null;
  try {
    const pipe = binding('pipe_wrap');
    const stream = binding('stream_wrap');
    const tty = binding('tty_wrap');
    const constants = pipe.constants as Record<string, unknown> | undefined;
    const proto = (pipe.Pipe as { prototype?: Record<string, unknown> } | undefined)?.prototype;
    if (
      typeof pipe.Pipe !== 'function' ||
      typeof pipe.PipeConnectWrap !== 'function' ||
      typeof stream.WriteWrap !== 'function' ||
      typeof constants?.SOCKET !== 'number' ||
      !(stream.streamBaseState instanceof Int32Array) ||
      typeof stream.kReadBytesOrError !== 'number' ||
      typeof stream.kArrayBufferOffset !== 'number' ||
      typeof tty.isTTY !== 'function' ||
      !proto ||
      !['connect', 'readStart', 'writeUtf8String', 'close'].every((m) => typeof proto[m] === 'function')
    )
      return null;
    return {
      Pipe: pipe.Pipe as Bindings['Pipe'],
      PipeConnectWrap: pipe.PipeConnectWrap as Bindings['PipeConnectWrap'],
      WriteWrap: stream.WriteWrap as Bindings['WriteWrap'],
      socketType: constants.SOCKET,
      state: stream.streamBaseState,
      kRead: stream.kReadBytesOrError,
      kOffset: stream.kArrayBufferOffset,
      isTTY: tty.isTTY as (fd: number) => boolean,
    };
  } catch {
    return null;
  }
}

export interface LightSocket {
  /** Queues `text` (UTF-8) on the socket. */
  write(text: string): void;
  /** Closes the socket at once (no half-close, as net.Socket.destroy). */
  close(): void;
}

/**
 * Connects to the Unix socket `file`: resolves the socket, or undefined when the connection
 * fails (ECONNREFUSED from a stale socket, ENOENT). `onData` gets each chunk read, `onClose` is
 * called once when the daemon closes its end or a read fails.
 */
export function lightConnect(b: Bindings, file: string, onData: (chunk: Buffer) => void, onClose: () => void): Promise<LightSocket | undefined> {
  return new Promise((resolve) => {
    const h = new b.Pipe(b.socketType);
    let closed = false;
    const close = (): void => {
      if (closed) return;
      closed = true;
      h.close();
    };
    const req = new b.PipeConnectWrap();
    req.oncomplete = (status: number) => {
      if (status < 0 || h.readStart() < 0) {
        close();
        resolve(undefined);
        return;
      }
      h.onread = (ab) => {
        const n = b.state[b.kRead]!;
        if (n > 0 && ab)
          onData(Buffer.from(new Uint8Array(ab, b.state[b.kOffset]!, n))); // a copy: the bytes are ours
        else if (n < 0) {
          close();
          onClose();
        }
      };
      resolve({
        write(text) {
          if (closed) return;
          const w = new b.WriteWrap();
          w.handle = h;
          w.oncomplete = () => undefined;
          w.async = false;
          if (h.writeUtf8String(w, text) < 0) {
            close();
            onClose();
          }
        },
        close,
      });
    };
    if (h.connect(req, file) < 0) {
      close();
      resolve(undefined);
    }
  });
}

/** The wait for a non-blocking pipe that is full (EAGAIN): 1 ms, without spinning. */
const nap = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `text` to `fd` (1 or 2) synchronously, as Node's stdio does for files and pipes. */
export function writeFdSync(fd: number, text: string): void {
  let buf = Buffer.from(text, 'utf8');
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(fd, buf));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(nap, 0, 0, 1);
    }
  }
}
