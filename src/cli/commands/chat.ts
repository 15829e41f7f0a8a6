/**
 * hush chat NAME: an interactive terminal session with one contact (issue 5).
 *
 * The screen (alternate screen buffer, redrawn whole on every change and on SIGWINCH):
 *   row 1        header: `hush chat · bob · unverified · connected`
 *   rows 2..R-2  the newest messages, bottom-aligned; ours end with a status tick:
 *                colour: · queued, ✓ sent, ✓✓ delivered, ✓✓ read (cyan);
 *                no colour: [queued] [sent] [delivered] [read]
 *   row R-1      status line: connected / reconnecting… and `bob is typing…`
 *   row R        the prompt `bob (unverified)> ` and the line being typed (node:readline)
 * Bodies go through the one sanitizer (safeText): a message cannot drive the terminal.
 *
 * Slash commands: /verify, /history N, /help, /quit. Exits 0 on /quit, Ctrl-C, Ctrl-D on an
 * empty line (EOF) and SIGTERM. Needs a terminal on stdin and stdout: otherwise UsageError
 * NOT_A_TTY with a hint to use send and listen.
 */
import * as readline from 'node:readline';
import type { Colour as ChalkInstance } from '../output.js';
import { isHushError, UsageError } from '../../errors.js';
import { ChatSession, type ChatView, type Entry } from '../../client/chat-session.js';
import { formatTime, safeText } from '../format.js';
import { openSession } from '../messaging.js';
import type { CommandRun } from './index.js';

const HELP = [
  '/verify     your and their fingerprints and the safety number, to compare out of band',
  '/history N  the last N messages with this contact (default 20)',
  '/help       this list',
  '/quit       leave (also Ctrl-C, or Ctrl-D on an empty line)',
];

function hhmm(ms: number): string {
  return formatTime(ms).slice(11);
}

function oneLine(s: string): string {
  return safeText(s).replace(/[\n\t]/g, ' ');
}

/** Splits `s` into rows of at most `width` characters (hard wrap; newlines start a row). */
function wrap(s: string, width: number): string[] {
  const rows: string[] = [];
  for (const line of s.split('\n')) {
    const chars = Array.from(line);
    if (chars.length === 0) rows.push('');
    for (let i = 0; i < chars.length; i += width) rows.push(chars.slice(i, i + width).join(''));
  }
  return rows;
}

function tick(status: string, c: ChalkInstance, colour: boolean): string {
  if (!colour) return `[${status}]`;
  switch (status) {
    case 'queued':
      return c.yellow('·');
    case 'sent':
      return c.dim('✓');
    case 'delivered':
      return '✓✓';
    default:
      return c.cyan.bold('✓✓');
  }
}

function trustText(t: ChatView['trust'], c: ChalkInstance): string {
  return t === 'changed' ? c.red.bold('KEY CHANGED') : t === 'verified' ? c.green('verified') : c.yellow('unverified');
}

/** The rows of one transcript entry, coloured, each at most `width` visible characters. */
function entryRows(e: Entry, width: number, c: ChalkInstance, colour: boolean): string[] {
  if (e.t === 'note') {
    return wrap(`-- ${safeText(e.text)}`, width).map((r) => (e.level === 'warn' ? c.yellow(r) : c.dim(r)));
  }
  const head = `${hhmm(e.time)} ${oneLine(e.who)}: `;
  const plainTick = e.dir === 'out' ? (colour ? (e.status === 'queued' ? '·' : e.status === 'sent' ? '✓' : '✓✓') : `[${e.status}]`) : '';
  const text = head + safeText(e.body) + (plainTick ? ` ${plainTick}` : '');
  const rows = wrap(text, width);
  // Colour the head on the first row and the tick on the last (both lie wholly inside them
  // when the width allows; otherwise the rows stay plain).
  if (rows[0]!.startsWith(head)) {
    const who = e.dir === 'out' ? c.cyan(oneLine(e.who)) : c.green.bold(oneLine(e.who));
    rows[0] = `${c.dim(hhmm(e.time))} ${who}: ${rows[0]!.slice(head.length)}`;
  }
  const last = rows.length - 1;
  if (plainTick && rows[last]!.endsWith(plainTick) && (last > 0 || rows[0] !== undefined)) {
    rows[last] = rows[last]!.slice(0, rows[last]!.length - plainTick.length) + tick(e.status, c, colour);
  }
  return rows;
}

export const run: CommandRun = async (ctx, args, opts) => {
  const name = String(args.name);
  const input = process.stdin;
  const output = process.stdout;
  if (!input.isTTY || !output.isTTY) {
    throw new UsageError('NOT_A_TTY', 'hush chat needs a terminal on stdin and stdout', {
      hint: `in scripts use hush send ${name} and hush listen`,
    });
  }
  const s = await openSession(ctx, { readReceipts: opts.readReceipts });
  const c = ctx.out.c;
  const colour = c.level > 0;
  const chat = new ChatSession(s.m, name);
  try {
    await chat.start();
  } catch (e) {
    await chat.stop().catch(() => undefined);
    await s.close();
    throw e;
  }

  output.write('\x1b[?1049h'); // alternate screen: the shell comes back as it was on exit
  const rl = readline.createInterface({ input, output, terminal: true, historySize: 100 });
  let closed = false;
  let fatal: Error | undefined;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));

  const render = (): void => {
    if (closed) return;
    const v = chat.view();
    const cols = Math.max(20, output.columns || 80);
    const rows = Math.max(5, output.rows || 24);
    const prompt = `${oneLine(v.peer)} (${v.trust === 'changed' ? 'KEY CHANGED' : v.trust})> `;
    rl.setPrompt(v.trust === 'changed' ? c.red(prompt) : prompt);
    const inputRows = Math.floor((prompt.length + Array.from(rl.line).length) / cols) + 1;
    const bodyHeight = Math.max(1, rows - 2 - inputRows);
    const conn = v.connection === 'connected' ? c.green('connected') : v.connection === 'connecting' ? c.dim('connecting…') : c.yellow('reconnecting…');
    const header = `hush chat · ${c.bold(oneLine(v.peer))} · ${trustText(v.trust, c)} · ${conn}`;
    const body: string[] = [];
    for (let i = v.entries.length - 1; i >= 0 && body.length < bodyHeight; i--) body.unshift(...entryRows(v.entries[i]!, cols, c, colour));
    const shown = body.slice(-bodyHeight);
    while (shown.length < bodyHeight) shown.unshift('');
    const status = `${conn}${v.peerTyping ? `  ${c.italic(`${oneLine(v.peer)} is typing…`)}` : ''}`;
    output.write('\x1b[H\x1b[J' + [header, ...shown, status].map((l) => l + '\x1b[K').join('\n') + '\n');
    (rl as unknown as { prevRows: number }).prevRows = 0; // we moved the cursor: redraw from here
    rl.prompt(true);
  };

  const quit = (): void => {
    if (closed) return;
    closed = true;
    done();
  };

  const onLine = async (line: string): Promise<void> => {
    const text = line.trim();
    if (text === '') return render();
    if (text.startsWith('/')) {
      const [cmd, arg] = text.split(/\s+/, 2);
      switch (cmd) {
        case '/quit':
        case '/exit':
          return quit();
        case '/help':
          for (const h of HELP) chat.note(h);
          return;
        case '/history': {
          const n = arg === undefined ? 20 : Number(arg);
          if (!Number.isSafeInteger(n) || n < 1 || n > 1000) return chat.note('/history N: N is a whole number from 1 to 1000', 'warn');
          const list = chat.history(n);
          chat.note(`the last ${list.length} message${list.length === 1 ? '' : 's'} with ${name}:`);
          for (const e of list) if (e.t === 'msg') chat.note(`${formatTime(e.time)} ${e.dir === 'out' ? '->' : '<-'} ${e.who}: ${e.body}${e.dir === 'out' ? ` [${e.status}]` : ''}`);
          return;
        }
        case '/verify': {
          const i = chat.verifyInfo();
          chat.note(`you (${i.me})  ${i.myFingerprint}`);
          chat.note(`${i.peer}  ${i.fingerprint}  ${i.trust === 'changed' ? 'KEY CHANGED' : i.trust}`);
          chat.note(`safety number  ${i.safetyNumber}`);
          if (i.newFingerprint) chat.note(`${i.peer}'s NEW key  ${i.newFingerprint}: compare it, then run hush trust ${i.peer}`, 'warn');
          else chat.note(`compare the safety number with ${i.peer} out of band; if it matches: hush trust ${i.peer} --fingerprint '${i.fingerprint}'`);
          return;
        }
        default:
          return chat.note(`unknown command ${cmd}; /help lists them`, 'warn');
      }
    }
    try {
      await chat.send(line);
    } catch (e) {
      if (!isHushError(e)) throw e;
      chat.note(`not sent: ${e.message}${e.hint ? ` (${e.hint})` : ''}`, 'warn');
    }
  };

  let lines = Promise.resolve();
  rl.on('line', (line) => {
    lines = lines.then(() => onLine(line)).catch((e: unknown) => {
      fatal = e instanceof Error ? e : new Error(String(e));
      quit();
    });
  });
  rl.on('close', quit); // Ctrl-D on an empty line, or stdin closed
  rl.on('SIGINT', quit); // Ctrl-C
  const onTerm = (): void => quit();
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onTerm);
  const onKey = (): void => {
    chat.typing(rl.line);
  };
  input.on('keypress', onKey);
  output.on('resize', render);
  chat.on('change', render);
  chat.on('fatal', (e) => {
    fatal = e;
    quit();
  });
  render();

  try {
    await finished;
  } finally {
    chat.off('change', render);
    output.off('resize', render);
    input.off('keypress', onKey);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onTerm);
    rl.close();
    output.write('\x1b[?1049l');
    input.pause();
    await chat.stop().catch(() => undefined);
    await lines.catch(() => undefined);
    await s.close();
  }
  if (fatal) throw fatal;
  ctx.out.info(`hush: chat with ${name} closed`);
};
