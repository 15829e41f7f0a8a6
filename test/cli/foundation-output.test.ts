/**
 * src/cli/output.ts and the error boundary (src/cli/run.ts) on captured streams: the house
 * error format, exit codes per error kind, internal errors, HUSH_DEBUG, JSON lines, colour and
 * the spinner staying silent off a terminal.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { DataError, ExitCode, PassphraseError, RelayError, TrustError, UsageError } from '../../src/errors.js';
import { createOutput } from '../../src/cli/output.js';
import { reportError, reportUsage } from '../../src/cli/run.js';

function capture(isTTY = false): NodeJS.WriteStream & { text: () => string } {
  let buf = '';
  const s = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      buf += chunk.toString();
      cb();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(s, { isTTY, text: () => buf, getColorDepth: () => 8 });
  return s;
}

function setup(opts: { json?: boolean; color?: boolean; tty?: boolean; env?: NodeJS.ProcessEnv } = {}) {
  const stdout = capture(opts.tty);
  const stderr = capture(opts.tty);
  const out = createOutput({ json: opts.json, color: opts.color, env: opts.env ?? {}, stdout, stderr });
  return { out, stdout, stderr };
}

describe('output', () => {
  it('data: human text by default, one JSON object per line with --json', () => {
    const h = setup();
    h.out.data({ a: 1 }, 'one');
    h.out.data({ a: 2 }, () => 'two\n');
    h.out.flush();
    expect(h.stdout.text()).toBe('one\ntwo\n');
    expect(h.stderr.text()).toBe('');
    const j = setup({ json: true });
    j.out.data({ a: 1, b: 'x' }, () => {
      throw new Error('human text is not built in json mode');
    });
    j.out.text('ignored in json mode');
    j.out.flush();
    expect(j.stdout.text()).toBe('{"a":1,"b":"x"}\n');
  });

  it('stdout records of one synchronous run leave in one write at its end; stderr sends what waits first', async () => {
    const h = setup();
    const writes: string[] = [];
    const write = h.stdout.write.bind(h.stdout);
    h.stdout.write = ((chunk: string) => {
      writes.push(chunk);
      return write(chunk);
    }) as typeof h.stdout.write;
    for (let i = 0; i < 3; i++) h.out.data({ i }, `line ${i}`);
    expect(h.stdout.text()).toBe(''); // still held: this run has not ended
    await Promise.resolve();
    expect(writes).toEqual(['line 0\nline 1\nline 2\n']);
    // A warning after a record: the record is written first, so the two streams keep their order.
    const order: string[] = [];
    const o = setup();
    const tap = (s: NodeJS.WriteStream, name: string): void => {
      const w = s.write.bind(s);
      s.write = ((chunk: string) => {
        order.push(`${name}:${chunk}`);
        return w(chunk);
      }) as typeof s.write;
    };
    tap(o.stdout, 'out');
    tap(o.stderr, 'err');
    o.out.data({}, 'first');
    o.out.warn('then this');
    o.out.data({}, 'last');
    await Promise.resolve();
    expect(order).toEqual(['out:first\n', 'err:hush: warning: then this\n', 'out:last\n']);
  });

  it('errors, hints and warnings go to stderr in the house format', () => {
    const h = setup();
    h.out.error('it broke', 'do this');
    h.out.error('no hint');
    h.out.warn('careful');
    expect(h.stdout.text()).toBe('');
    expect(h.stderr.text()).toBe('hush: error: it broke\nhush: hint: do this\nhush: error: no hint\nhush: warning: careful\n');
  });

  it('colours only a TTY, and never with NO_COLOR or --no-color', () => {
    const tty = setup({ tty: true });
    tty.out.error('x');
    expect(tty.stderr.text()).toContain('\x1b[');
    for (const o of [setup({ tty: false }), setup({ tty: true, env: { NO_COLOR: '1' } }), setup({ tty: true, color: false })]) {
      o.out.error('x');
      o.out.data({}, o.out.c.bold('y'));
      o.out.flush();
      expect(o.stdout.text()).toBe('y\n');
      expect(o.stderr.text() + o.stdout.text()).not.toContain('\x1b[');
    }
  });

  it('progress runs the work and prints nothing off a terminal; on a terminal it clears its line', async () => {
    const h = setup();
    expect(await h.out.progress('deriving', async () => 42)).toBe(42);
    expect(h.stderr.text()).toBe('');
    const t = setup({ tty: true });
    await expect(t.out.progress('deriving', async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(t.stderr.text()).toContain('deriving');
    expect(t.stderr.text().endsWith('\r\x1b[2K')).toBe(true);
    expect(t.stdout.text()).toBe('');
  });
});

describe('error boundary', () => {
  it('maps each error kind to its exit code and prints message and hint', () => {
    const cases: [Error, number][] = [
      [new UsageError('X', 'bad flag', { hint: 'fix it' }), ExitCode.usage],
      [new PassphraseError('X', 'wrong passphrase'), ExitCode.passphrase],
      [new RelayError('X', 'relay down'), ExitCode.relay],
      [new TrustError('X', 'key changed'), ExitCode.trust],
      [new DataError('X', 'corrupt'), ExitCode.data],
    ];
    for (const [err, code] of cases) {
      const h = setup();
      expect(reportError(h.out, err, {})).toBe(code);
      expect(h.stderr.text()).toMatch(new RegExp(`^hush: error: ${err.message}\\n`));
      expect(h.stderr.text()).not.toMatch(/\n\s+at /);
    }
  });

  it('an unknown exception is exit 1, "internal error", with a hint; the stack only with HUSH_DEBUG=1', () => {
    const h = setup();
    expect(reportError(h.out, new TypeError('x is undefined'), {})).toBe(1);
    expect(h.stderr.text()).toMatch(/^hush: error: internal error: x is undefined\nhush: hint: run again with HUSH_DEBUG=1/);
    expect(h.stderr.text()).not.toMatch(/\n\s+at /);
    const d = setup();
    expect(reportError(d.out, new TypeError('x is undefined', { cause: new Error('root cause') }), { HUSH_DEBUG: '1' })).toBe(1);
    expect(d.stderr.text()).toMatch(/\n\s+at /);
    expect(d.stderr.text()).toContain('caused by:');
    expect(d.stderr.text()).toContain('root cause');
    expect(reportError(setup().out, 'a thrown string', {})).toBe(1);
  });

  it('commander messages become house-format usage errors with a help hint', () => {
    const h = setup();
    expect(reportUsage(h.out, "error: unknown command 'inti'\n(Did you mean init?)", 'hush')).toBe(2);
    expect(h.stderr.text()).toBe("hush: error: unknown command 'inti'\nhush: hint: did you mean init? run hush --help\n");
  });
});
