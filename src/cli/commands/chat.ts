/**
 * hush chat NAME: an interactive terminal session with one contact (issue 5).
 *
 * The screen (alternate screen buffer, redrawn whole on every change and on SIGWINCH):
 *   row 1        header: `hush chat · bob · unverified · connected`; on a narrow terminal the
 *                title goes first, then each part is shortened with `…` (headerText)
 *   rows 2..R-2  the newest messages, bottom-aligned: time (HH:MM today, else the date as in
 *                hush history), sender, body; ours end with a status tick:
 *                colour: · queued, ✓ sent, ✓✓ delivered, ✓✓ read (cyan);
 *                no colour: [queued] [sent] [delivered] [read]
 *   row R-1      status line: `bob is typing…` (the connection state is in the header only)
 *   row R        the prompt `bob (unverified)> ` and the line being typed (node:readline)
 * Bodies go through the one sanitizer (safeText): a message cannot drive the terminal.
 * On exit the session's messages are printed again on the normal screen, as they were shown.
 *
 * Input: bracketed paste is on (ESC[?2004h, off on exit), so a paste of several lines is one
 * message with its newlines, sent when the paste ends (never read as a command). A typed line
 * starting with `/` is a command: /verify, /history N, /help, /quit; an unknown one is refused
 * and nothing is sent; `//text` sends `/text`. Exits 0 on /quit, Ctrl-C, Ctrl-D on an empty
 * line (EOF) and SIGTERM. Needs a terminal on stdin and stdout: otherwise UsageError
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
  '//text      sends /text (a message that starts with /)',
];

/** `20:40` for a message from today (local time), else `2026-11-23 20:40` as in hush history. */
export function when(ms: number, now: number = Date.now()): string {
  const t = formatTime(ms);
  return t.slice(0, 10) === formatTime(now).slice(0, 10) ? t.slice(11) : t;
}

/** `s` cut to `max` characters, the last one `…` when cut (never below 1 character). */
function cut(s: string, max: number): string {
  const chars = Array.from(s);
  return chars.length <= max ? s : chars.slice(0, Math.max(0, max - 1)).join('') + '…';
}

/**
 * The header's plain parts for `cols` columns: `hush chat`, the name, the trust state and the
 * connection state, joined by ` · `. When they do not fit, the title goes first; then the
 * longest part loses a character at a time (ending in `…`) down to 4 characters each (the
 * first 3 and `…`); only then, on a very narrow terminal, do parts get shorter than that.
 */
export function headerParts(parts: string[], cols: number): string[] {
  const SEP = 3; // ' · '
  const width = (ps: string[]): number => ps.reduce((n, p) => n + Array.from(p).length, 0) + SEP * (ps.length - 1);
  if (width(parts) <= cols) return parts;
  const rest = parts.slice(1);
  const lens = rest.map((p) => Array.from(p).length);
  for (const floor of [4, 1]) {
    while (lens.reduce((a, b) => a + b, 0) + SEP * (lens.length - 1) > cols) {
      let longest = -1;
      for (let i = 0; i < lens.length; i++) if (lens[i]! > floor && (longest < 0 || lens[i]! > lens[longest]!)) longest = i;
      if (longest < 0) break;
      lens[longest]!--;
    }
  }
  return rest.map((p, i) => cut(p, lens[i]!));
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

const CONNECTION: Record<ChatView['connection'], string> = { connected: 'connected', connecting: 'connecting…', reconnecting: 'reconnecting…' };

/** The header row for `cols` columns, coloured: `hush chat · bob · unverified · connected`. */
function headerText(v: ChatView, cols: number, c: ChalkInstance): string {
  const fitted = headerParts(['hush chat', oneLine(v.peer), v.trust === 'changed' ? 'KEY CHANGED' : v.trust, CONNECTION[v.connection]], cols);
  const [name, trust, conn] = fitted.slice(-3) as [string, string, string];
  const trustStyled = v.trust === 'changed' ? c.red.bold(trust) : v.trust === 'verified' ? c.green(trust) : c.yellow(trust);
  const connStyled = v.connection === 'connected' ? c.green(conn) : v.connection === 'connecting' ? c.dim(conn) : c.yellow(conn);
  return [...(fitted.length === 4 ? [fitted[0]!] : []), c.bold(name), trustStyled, connStyled].join(' · ');
}

/** The rows of one transcript entry, coloured, each at most `width` visible characters. */
function entryRows(e: Entry, width: number, c: ChalkInstance, colour: boolean): string[] {
  if (e.t === 'note') {
    return wrap(`-- ${safeText(e.text)}`, width).map((r) => (e.level === 'warn' ? c.yellow(r) : c.dim(r)));
  }
  const head = `${when(e.time)} ${oneLine(e.who)}: `;
  const plainTick = e.dir === 'out' ? (colour ? (e.status === 'queued' ? '·' : e.status === 'sent' ? '✓' : '✓✓') : `[${e.status}]`) : '';
  const text = head + safeText(e.body) + (plainTick ? ` ${plainTick}` : '');
  const rows = wrap(text, width);
  // Colour the head on the first row and the tick on the last (both lie wholly inside them
  // when the width allows; otherwise the rows stay plain).
  if (rows[0]!.startsWith(head)) {
    const who = e.dir === 'out' ? c.cyan(oneLine(e.who)) : c.green.bold(oneLine(e.who));
    rows[0] = `${c.dim(when(e.time))} ${who}: ${rows[0]!.slice(head.length)}`;
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

  output.write('\x1b[?1049h\x1b[?2004h'); // alternate screen (the shell comes back as it was on exit), bracketed paste
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
    const header = headerText(v, cols, c);
    const body: string[] = [];
    for (let i = v.entries.length - 1; i >= 0 && body.length < bodyHeight; i--) body.unshift(...entryRows(v.entries[i]!, cols, c, colour));
    const shown = body.slice(-bodyHeight);
    while (shown.length < bodyHeight) shown.unshift('');
    const status = v.peerTyping ? c.italic(cut(`${oneLine(v.peer)} is typing…`, cols)) : '';
    output.write('\x1b[H\x1b[J' + [header, ...shown, status].map((l) => l + '\x1b[K').join('\n') + '\n');
    (rl as unknown as { prevRows: number }).prevRows = 0; // we moved the cursor: redraw from here
    rl.prompt(true);
  };

  const quit = (): void => {
    if (closed) return;
    closed = true;
    done();
  };

  const send = async (text: string): Promise<void> => {
    try {
      await chat.send(text);
    } catch (e) {
      if (!isHushError(e)) throw e;
      chat.note(`not sent: ${e.message}${e.hint ? ` (${e.hint})` : ''}`, 'warn');
    }
  };

  const onLine = async (line: string): Promise<void> => {
    const text = line.trim();
    if (text === '') return render();
    if (text.startsWith('//')) return send(line.replace('/', '')); // the escape: one leading / goes
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
          // As in hush history: `->` sent to the peer, `<-` received from them.
          for (const e of list) if (e.t === 'msg') chat.note(`${formatTime(e.time)}  ${e.dir === 'out' ? '->' : '<-'} ${name}  ${e.dir === 'out' ? `${e.status}  ` : ''}${e.body}`);
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
          return chat.note(`unknown command ${cmd}: nothing was sent; /help lists the commands, //text sends /text`, 'warn');
      }
    }
    return send(line);
  };

  let lines = Promise.resolve();
  const later = (work: () => Promise<void>): void => {
    lines = lines.then(work).catch((e: unknown) => {
      fatal = e instanceof Error ? e : new Error(String(e));
      quit();
    });
  };
  // Bracketed paste: readline reports ESC[200~ / ESC[201~ as paste-start / paste-end keys and
  // ends a line at each pasted newline; those lines are collected and the whole paste goes out
  // as one message when it ends (the text after its last newline included).
  let pasted: string[] | undefined;
  rl.on('line', (line) => {
    if (pasted) pasted.push(line);
    else later(() => onLine(line));
  });
  const onPaste = (_s: string | undefined, key: { name?: string } | undefined): void => {
    if (key?.name === 'paste-start') pasted = [];
    if (key?.name !== 'paste-end' || !pasted) return;
    const lines = pasted;
    pasted = undefined;
    if (lines.length === 0) return; // one line pasted: it stays on the prompt to edit and send
    if (rl.line !== '') lines.push(rl.line);
    while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
    rl.write(null, { ctrl: true, name: 'e' });
    rl.write(null, { ctrl: true, name: 'u' });
    render(); // readline moved the cursor for each pasted line
    const text = lines.join('\n');
    if (text !== '') later(() => send(text));
  };
  input.on('keypress', onPaste);
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
    input.off('keypress', onPaste);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onTerm);
    rl.close();
    output.write('\x1b[?2004l\x1b[?1049l');
    // What was said stays on the normal screen: this session's messages as they were shown.
    const cols = Math.max(20, output.columns || 80);
    const said = chat.sessionMessages().flatMap((e) => entryRows(e, cols, c, colour));
    if (said.length > 0) output.write(said.join('\n') + '\n');
    input.pause();
    await chat.stop().catch(() => undefined);
    await lines.catch(() => undefined);
    await s.close();
  }
  if (fatal) throw fatal;
  ctx.out.info(`hush: chat with ${name} closed`);
};
