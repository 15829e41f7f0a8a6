/**
 * The ONE module of hush that prints. stdout carries data, stderr carries talk (warnings,
 * progress, errors). Everything else in src/ returns values or throws HushError.
 *
 * - Human output by default; colour (chalk) only when that stream is a TTY, NO_COLOR is unset
 *   and --no-color was not given. Colour is decided per stream.
 * - `--json`: `data()` prints exactly one JSON object per line on stdout; field names are
 *   stable (documented with each command). Errors stay on stderr in the text form below, and
 *   nothing is printed on stdout for a failed command.
 * - Errors: `hush: error: <message>` then, when there is one, `hush: hint: <hint>`.
 * - Progress: a spinner on stderr only when stderr is a TTY; nothing otherwise.
 */
import { Chalk, type ChalkInstance } from 'chalk';

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
  /** chalk for stdout text (level 0 when colour is off). */
  readonly c: ChalkInstance;
  /** chalk for stderr text. */
  readonly cErr: ChalkInstance;
  /**
   * One data record. With --json: one line `JSON.stringify(record)` on stdout. Otherwise the
   * human text (a string, or a function producing it, called only in human mode) on stdout;
   * a trailing newline is added when missing.
   */
  data(record: JsonRecord, human: string | (() => string)): void;
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

function colorLevel(stream: NodeJS.WriteStream, opts: OutputOptions): 0 | 1 | 2 | 3 {
  const env = opts.env ?? process.env;
  if (opts.color === false) return 0;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return 0;
  if (!stream.isTTY) return 0;
  const depth = typeof stream.getColorDepth === 'function' ? stream.getColorDepth(env as Record<string, string>) : 4;
  if (depth >= 24) return 3;
  if (depth >= 8) return 2;
  if (depth >= 4) return 1;
  return 0;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function createOutput(opts: OutputOptions = {}): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const json = opts.json === true;
  const c = new Chalk({ level: colorLevel(stdout, opts) });
  const cErr = new Chalk({ level: colorLevel(stderr, opts) });
  const nl = (s: string): string => (s.endsWith('\n') ? s : s + '\n');

  return {
    json,
    c,
    cErr,
    data(record, human) {
      if (json) stdout.write(JSON.stringify(record) + '\n');
      else stdout.write(nl(typeof human === 'function' ? human() : human));
    },
    text(line) {
      if (!json) stdout.write(nl(line));
    },
    info(line) {
      stderr.write(nl(line));
    },
    warn(message) {
      stderr.write(`${cErr.yellow('hush: warning:')} ${message}\n`);
    },
    error(message, hint) {
      stderr.write(`${cErr.red('hush: error:')} ${message}\n`);
      if (hint) stderr.write(`${cErr.dim('hush: hint:')} ${hint}\n`);
    },
    async progress(label, fn) {
      if (!stderr.isTTY) return fn();
      let i = 0;
      const draw = (): void => {
        stderr.write(`\r${cErr.cyan(FRAMES[i++ % FRAMES.length]!)} ${label}`);
      };
      draw();
      const timer = setInterval(draw, 80);
      try {
        return await fn();
      } finally {
        clearInterval(timer);
        stderr.write('\r\x1b[2K');
      }
    },
  };
}
