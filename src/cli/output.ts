/**
 * The ONE module of hush that prints. stdout carries data, stderr carries talk (warnings,
 * progress, errors). Everything else in src/ returns values or throws HushError.
 *
 * - Human output by default; colour only when that stream is a TTY, NO_COLOR is unset and
 *   --no-color was not given. Colour is decided per stream.
 * - `--json`: `data()` prints exactly one JSON object per line on stdout; field names are
 *   stable (documented with each command). Errors stay on stderr in the text form below, and
 *   nothing is printed on stdout for a failed command.
 * - Errors: `hush: error: <message>` then, when there is one, `hush: hint: <hint>`.
 * - Progress: a spinner on stderr only when stderr is a TTY; nothing otherwise.
 *
 * Colour is a small ANSI styler (`Colour`), not chalk: importing chalk (with its `tty`/`os`
 * colour detection) cost ~20 ms of every start, `hush --help` included. It writes the same
 * escape codes as chalk for the styles it has (16-colour codes, nested styles re-opened,
 * styles closed and re-opened around line breaks).
 */

/** One style, callable on text and chainable (`c.red.bold('x')`). */
export type Style = ((...text: unknown[]) => string) & Colour;

/** The styles command files use on `out.c` / `out.cErr`; identity functions when colour is off. */
export interface Colour {
  /** 0 when this stream is not coloured (the styles return their text unchanged), else 1 (16 colours, as chalk's level 1). */
  readonly level: 0 | 1;
  readonly bold: Style;
  readonly dim: Style;
  readonly italic: Style;
  readonly underline: Style;
  readonly inverse: Style;
  readonly red: Style;
  readonly green: Style;
  readonly yellow: Style;
  readonly blue: Style;
  readonly magenta: Style;
  readonly cyan: Style;
  readonly white: Style;
  readonly gray: Style;
}

const CODES: Record<Exclude<keyof Colour, 'level'>, [number, number]> = {
  bold: [1, 22],
  dim: [2, 22],
  italic: [3, 23],
  underline: [4, 24],
  inverse: [7, 27],
  red: [31, 39],
  green: [32, 39],
  yellow: [33, 39],
  blue: [34, 39],
  magenta: [35, 39],
  cyan: [36, 39],
  white: [37, 39],
  gray: [90, 39],
};

interface Styler {
  open: string;
  close: string;
  openAll: string;
  closeAll: string;
  parent?: Styler;
}

/** chalk's way of turning the arguments into one string. */
const joinText = (text: unknown[]): string => (text.length === 1 ? String(text[0]) : text.join(' '));

function applyStyle(styler: Styler, text: string): string {
  if (text === '') return text;
  if (text.includes('\x1b')) {
    // A nested style closing inside this one: re-open ours (and our parents') after it.
    for (let s: Styler | undefined = styler; s !== undefined; s = s.parent) text = text.split(s.close).join(s.close + s.open);
  }
  if (text.includes('\n')) text = text.replace(/(\r?\n)/g, `${styler.closeAll}$1${styler.openAll}`);
  return styler.openAll + text + styler.closeAll;
}

function makeColour(enabled: boolean, parent?: Styler): Colour {
  const colour = { level: enabled ? 1 : 0 } as Colour;
  for (const [name, [open, close]] of Object.entries(CODES)) {
    Object.defineProperty(colour, name, {
      get(): Style {
        let style: Style;
        if (enabled) {
          const o = `\x1b[${open}m`;
          const c = `\x1b[${close}m`;
          const styler: Styler = { open: o, close: c, openAll: (parent?.openAll ?? '') + o, closeAll: c + (parent?.closeAll ?? ''), parent };
          style = Object.setPrototypeOf((...text: unknown[]) => applyStyle(styler, joinText(text)), makeColour(true, styler)) as Style;
        } else {
          style = Object.setPrototypeOf((...text: unknown[]) => joinText(text), PLAIN) as Style;
        }
        Object.defineProperty(colour, name, { value: style });
        return style;
      },
      configurable: true,
    });
  }
  return colour;
}

const PLAIN: Colour = makeColour(false);

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

function colourOn(stream: NodeJS.WriteStream, opts: OutputOptions): boolean {
  const env = opts.env ?? process.env;
  if (opts.color === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (!stream.isTTY) return false;
  // Fewer than 16 colours (TERM=dumb): none.
  const depth = typeof stream.getColorDepth === 'function' ? stream.getColorDepth(env as Record<string, string>) : 4;
  return depth >= 4;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function createOutput(opts: OutputOptions = {}): Output {
  const stdout = opts.stdout ?? process.stdout;
  const stderr = opts.stderr ?? process.stderr;
  const json = opts.json === true;
  const c = colourOn(stdout, opts) ? makeColour(true) : PLAIN;
  const cErr = colourOn(stderr, opts) ? makeColour(true) : PLAIN;
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
