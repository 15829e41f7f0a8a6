/**
 * The ONE module of hush that prints. stdout carries data, stderr carries talk (warnings,
 * progress, errors). Everything else in src/ returns values or throws HushError.
 *
 * - Human output by default; colour only when that stream is a TTY, NO_COLOR is unset and
 *   neither --no-color nor --json was given. Colour is decided per stream.
 * - `--json`: `data()` prints exactly one JSON object per line on stdout; field names are
 *   stable (documented with each command). Errors stay on stderr in the text form below, and
 *   nothing is printed on stdout for a failed command.
 * - Errors: `hush: error: <message>` then, when there is one, `hush: hint: <hint>`.
 * - Progress: a spinner on stderr only when stderr is a TTY; nothing otherwise.
 *
 * Colour is chalk (the chosen colour library), loaded lazily: `out.c` / `out.cErr` are getters,
 * and only the first one read for a coloured stream loads chalk (a synchronous `require` of
 * chalk 5's ESM, Node >= 20.19). A stream that is not coloured gets PLAIN, a chainable
 * identity that needs no library, so `--help`, pipes, `--json`, NO_COLOR and `--no-color`
 * never load chalk (tested in test/cli/foundation.test.ts). chalk's own colour probe is not
 * used: the level comes from the decision below (`new Chalk({ level })`).
 */
import { createRequire } from 'node:module';
import type { ChalkInstance } from 'chalk';

/** The styles command files use on `out.c` / `out.cErr` (chalk's; identity functions when colour is off). */
export type Colour = ChalkInstance;

/** chalk's way of turning the arguments into one string. */
const joinText = (text: unknown[]): string => (text.length === 1 ? String(text[0]) : text.join(' '));

/** Colour off: every style (chained to any depth) returns its text unchanged; `level` is 0. */
const PLAIN: Colour = new Proxy((...text: unknown[]) => joinText(text), {
  get: (target, prop) => (prop === 'level' ? 0 : typeof prop === 'symbol' || prop in target ? Reflect.get(target, prop) : PLAIN),
}) as unknown as Colour;

let chalkModule: typeof import('chalk') | null | undefined;

/**
 * chalk at `level` (1: 16 colours, 2: 256, 3: truecolor), or PLAIN where Node cannot
 * `require` an ES module (Node 20 before 20.19): no colour rather than a failed command.
 */
function loadChalk(level: 1 | 2 | 3): Colour {
  if (chalkModule === undefined) {
    try {
      chalkModule = createRequire(import.meta.url)('chalk') as typeof import('chalk');
    } catch {
      chalkModule = null;
    }
  }
  return chalkModule ? new chalkModule.Chalk({ level }) : PLAIN;
}

export interface OutputOptions {
  json?: boolean;
  /** false when --no-color was given. */
  color?: boolean;
  env?: NodeJS.ProcessEnv;
  stdout?: NodeJS.WriteStream;
  stderr?: NodeJS.WriteStream;
}

/** A value printed by `data()`: JSON in --json mode, `human` text otherwise. */
export type JsonRecord = Record<string, unknown>;

export interface Output {
  readonly json: boolean;
  /** Styles for stdout text (identity functions when colour is off). */
  readonly c: Colour;
  /** Styles for stderr text. */
  readonly cErr: Colour;
  /**
   * One data record. With --json: one line `JSON.stringify(record)` on stdout. Otherwise the
   * human text (a string, or a function producing it, called only in human mode) on stdout;
   * a trailing newline is added when missing.
   */
  data(record: JsonRecord, human: string | (() => string)): void;
  /**
   * Writes what data() and text() hold now (they leave together at the end of the current
   * synchronous run otherwise). pull and listen call it after a batch is stored and shown,
   * before its ack leaves, so what was acked was printed.
   */
  flush(): void;
  /** Raw human text on stdout (not in --json mode: ignored there). */
  text(line: string): void;
  /** Talk on stderr (e.g. "keyring written"); printed in both modes. */
  info(line: string): void;
  /** `hush: warning: <message>` on stderr. */
  warn(message: string): void;
  /** `hush: error: <message>` and optional `hush: hint: <hint>` on stderr. */
  error(message: string, hint?: string): void;
  /** Runs `fn` with a spinner labelled `label` on stderr when stderr is a TTY. */
  progress<T>(label: string, fn: () => Promise<T>): Promise<T>;
}

/** The colour level for `stream`: 0 (none) off a TTY, with NO_COLOR or --no-color, or below 16 colours. */
function colourLevel(stream: NodeJS.WriteStream, opts: OutputOptions): 0 | 1 | 2 | 3 {
  const env = opts.env ?? process.env;
  // --json is for scripts: no escape codes on either stream.
  if (opts.color === false || opts.json === true) return 0;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  if (!stream.isTTY) return 0;
  // Fewer than 16 colours (TERM=dumb): none.
  const depth = typeof stream.getColorDepth === 'function' ? stream.getColorDepth(env as Record<string, string>) : 4;
  return depth >= 24 ? 3 : depth >= 8 ? 2 : depth >= 4 ? 1 : 0;
}

/** A getter's value: PLAIN at level 0, else chalk, loaded on the first read. */
function lazyColour(level: 0 | 1 | 2 | 3): () => Colour {
  if (level === 0) return () => PLAIN;
  let c: Colour | undefined;
  return () => (c ??= loadChalk(level));
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function createOutput(opts: OutputOptions = {}): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const json = opts.json === true;
  const c = lazyColour(colourLevel(stdout, opts));
  const cErr = lazyColour(colourLevel(stderr, opts));
  const nl = (s: string): string => (s.endsWith('\n') ? s : s + '\n');
  // stdout records written in one synchronous run (a pull batch's 1,000 messages) leave in one
  // write, at the end of that run (a microtask), not one write per record; anything written to
  // stderr first sends what waits, so the two streams keep their order.
  let pending = '';
  const flush = (): void => {
    if (pending === '') return;
    const s = pending;
    pending = '';
    stdout.write(s);
  };
  const out = (s: string): void => {
    if (pending === '') queueMicrotask(flush);
    pending += s;
  };
  const err = (s: string): void => {
    flush();
    stderr.write(s);
  };

  return {
    json,
    get c() {
      return c();
    },
    get cErr() {
      return cErr();
    },
    flush,
    data(record, human) {
      if (json) out(JSON.stringify(record) + '\n');
      else out(nl(typeof human === 'function' ? human() : human));
    },
    text(line) {
      if (!json) out(nl(line));
    },
    info(line) {
      err(nl(line));
    },
    warn(message) {
      err(`${cErr().yellow('hush: warning:')} ${message}\n`);
    },
    error(message, hint) {
      err(`${cErr().red('hush: error:')} ${message}\n${hint ? `${cErr().dim('hush: hint:')} ${hint}\n` : ''}`);
    },
    async progress(label, fn) {
      if (!stderr.isTTY) return fn();
      let i = 0;
      const draw = (): void => {
        flush();
        stderr.write(`\r${cErr().cyan(FRAMES[i++ % FRAMES.length]!)} ${label}`);
      };
      draw();
      const timer = setInterval(draw, 80);
      try {
        return await fn();
      } finally {
        clearInterval(timer);
        err('\r\x1b[2K');
      }
    },
  };
}
