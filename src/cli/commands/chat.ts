/**
 * hush chat NAME: an interactive terminal session with one contact (issue 5); hush chat @NAME:
 * the same for a group (src/client/group-chat-session.ts: `bob: text` lines, posts to the group,
 * ticks as the least advanced member's copy, typing to members whose token we hold).
 *
 * The screen (alternate screen buffer, redrawn whole on every change and on SIGWINCH):
 *   row 1        header: `hush chat · bob · unverified · connected`; on a narrow terminal the
 *                title goes first, then each part is shortened with `…` (chat-view.ts)
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
import { isHushError, UsageError } from '../../errors.js';
import { ChatSession } from '../../client/chat-session.js';
import { GroupChatSession } from '../../client/group-chat-session.js';
import { cut, entryRows, headerText, oneLine } from '../chat-view.js';
import { formatTime } from '../format.js';
import { openSession } from '../messaging.js';
import type { CommandRun } from './index.js';

const HELP = [
  '/verify     your and their fingerprints and the safety number, to compare out of band',
  '/history N  the last N messages with this contact (default 20)',
  '/help       this list',
  '/quit       leave (also Ctrl-C, or Ctrl-D on an empty line)',
  '//text      sends /text (a message that starts with /)',
];

export const run: CommandRun = async (ctx, args, opts) => {
  const name = String(args.name);
  const input = process.stdin;
  const output = process.stdout;
  if (!input.isTTY || !output.isTTY) {
    throw new UsageError('NOT_A_TTY', 'hush chat needs a terminal on stdin and stdout', {
      hint: `in scripts use hush send ${name} and hush listen`,
    });
  }
  const s = await openSession(ctx, { readReceipts: opts.readReceipts, deliveryReceipts: opts.deliveryReceipts, receiptDelay: opts.receiptDelay });
  const c = ctx.out.c;
  const colour = c.level > 0;
  const group = name.startsWith('@'); // chat @NAME: a group (src/client/group-chat-session.ts)
  const chat = group ? new GroupChatSession(s.m, name) : new ChatSession(s.m, name);
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
    const status = v.peerTyping ? c.italic(cut(`${oneLine((v as { typingWho?: string }).typingWho ?? v.peer)} is typing…`, cols)) : ''; // a group: which member
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
          for (const e of list)
            if (e.t === 'msg')
              chat.note(`${formatTime(e.time)}  ${e.dir === 'out' ? '->' : '<-'} ${name}  ${e.dir === 'out' ? `${e.status}  ` : ''}${group ? `${e.who}: ` : ''}${e.body}`);
          return;
        }
        case '/verify': {
          if (chat instanceof GroupChatSession) {
            chat.note(`the members of ${name}; compare a member's safety number with hush verify NAME:`);
            for (const l of chat.memberLines()) chat.note(l);
            return;
          }
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
