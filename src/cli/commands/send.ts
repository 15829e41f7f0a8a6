/**
 * hush send NAME [TEXT...] [--lines]: seals and sends a message.
 *
 * The text is the arguments joined by single spaces, else stdin: the whole stream is one
 * message (one trailing newline removed), or with --lines one message per line, each sent as it
 * arrives (empty lines skipped). Input must be UTF-8 text without NUL bytes: hush is a text
 * messenger, binary input is refused (UsageError NOT_UTF8). Each message is stored in history
 * and in the outbox before the relay sees it; exit 0 only once the relay accepted every one.
 * The outbox (older messages) is flushed first.
 * Output: human on stderr `sent 3 messages to bob`, nothing on stdout; --json on stdout one
 * line per accepted message {"event":"sent","to":"bob","id":"<hex>","time":<ms>} (outbox
 * messages included, with their own recipient).
 */
import { RelayError, UsageError } from '../../errors.js';
import { checkBody, type DrainResult, type QueuedMessage, unreachable } from '../../client/messenger.js';
import { MAX_BODY_BYTES } from '../../protocol/envelope.js';
import { isValidLabel } from '../../protocol/names.js';
import { plural } from '../format.js';
import { findGroup, postToGroup } from '../../client/groups.js';
import { MessengerGroupSender } from '../../client/group-sender.js';
import { randomBytes } from '../../crypto/nacl.js';
import { warnExcluded } from '../group-output.js';
import { openSession } from '../messaging.js';
import type { CommandRun } from './index.js';

const strict = new TextDecoder('utf-8', { fatal: true });

function notText(what: string): UsageError {
  return new UsageError('NOT_UTF8', `${what} is not UTF-8 text`, {
    hint: 'a message is text; send binary data as a file: hush send NAME --file PATH (or --file - --name NAME for stdin)',
  });
}

/** Decodes one message; UsageError for binary, empty or too large input. */
function decodeText(bytes: Uint8Array, what: string): string {
  if (bytes.length > MAX_BODY_BYTES) checkBody(bytes);
  let text: string;
  try {
    text = strict.decode(bytes);
  } catch {
    throw notText(what);
  }
  if (text.includes('\u0000')) throw notText(what);
  return text;
}

/** The whole of stdin (counting, but not keeping, bytes past the limit). */
async function readAll(stream: NodeJS.ReadableStream): Promise<{ bytes: Buffer; total: number }> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let total = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (kept <= MAX_BODY_BYTES + 2) {
      chunks.push(chunk);
      kept += chunk.length;
    }
  }
  return { bytes: Buffer.concat(chunks), total };
}

/** One line of stdin: its number (from 1, empty lines counted) and its bytes, unless too long. */
export interface InputLine {
  no: number;
  /** undefined when the line is longer than a message may be (its bytes were not kept). */
  bytes?: Buffer;
  /** The line's length in bytes, without the newline. */
  size: number;
}

/** Longest line kept: a full message plus a "\r" before the newline. */
const MAX_LINE = MAX_BODY_BYTES + 1;

/**
 * Lines as they arrive, grouped by input chunk (one store transaction per group). A line
 * longer than MAX_LINE is not buffered: its bytes are counted and dropped up to its newline.
 */
export async function* lineGroups(stream: NodeJS.ReadableStream): AsyncGenerator<InputLine[]> {
  let parts: Buffer[] = [];
  let size = 0;
  let no = 0;
  const take = (piece: Buffer, copy: boolean): void => {
    size += piece.length;
    if (size <= MAX_LINE) parts.push(copy ? Buffer.from(piece) : piece);
    else parts = [];
  };
  const finish = (): InputLine => {
    no++;
    const line: InputLine = size <= MAX_LINE ? { no, bytes: parts.length === 1 ? parts[0]! : Buffer.concat(parts), size } : { no, size };
    parts = [];
    size = 0;
    return line;
  };
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const group: InputLine[] = [];
    let start = 0;
    for (let i = chunk.indexOf(10, start); i !== -1; i = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, i), false);
      group.push(finish());
      start = i + 1;
    }
    if (start < chunk.length) take(chunk.subarray(start), true);
    if (group.length > 0) yield group;
  }
  if (size > 0) yield [finish()];
}

/** The text of a line (CR stripped), undefined for a blank one; UsageError for binary. */
export function lineText(line: Buffer): string | undefined {
  const b = line.length > 0 && line[line.length - 1] === 13 ? line.subarray(0, -1) : line;
  const text = decodeText(b, 'a line on stdin');
  return text.trim() === '' ? undefined : text;
}

/**
 * The texts of one group of --lines input: blank lines skipped, a line over the limit warned
 * about and added to `refused` (every other line still goes out; reported at the end).
 */
export function groupTexts(group: readonly InputLine[], refused: InputLine[], warn: (line: string) => void): string[] {
  const texts: string[] = [];
  for (const l of group) {
    if (l.bytes === undefined || bodySize(l) > MAX_BODY_BYTES) {
      refused.push(l);
      warn(`line ${l.no} not sent: it is ${bodySize(l)} bytes, the limit is ${MAX_BODY_BYTES} bytes (64 KiB)`);
      continue;
    }
    const text = lineText(l.bytes);
    if (text !== undefined) texts.push(text);
  }
  return texts;
}

/** Size of a line without a trailing "\r" (what the message would have been). */
export function bodySize(l: InputLine): number {
  return l.bytes !== undefined && l.bytes[l.bytes.length - 1] === 13 ? l.size - 1 : l.size;
}

/** The error for --lines input with lines over the limit (the rest was sent). */
export function linesRefused(refused: InputLine[]): UsageError {
  const shown = refused.slice(0, 10).map((l) => String(l.no));
  const more = refused.length > shown.length ? `, … (${refused.length - shown.length} more)` : '';
  const which = refused.length === 1 ? `line ${shown[0]} is ${bodySize(refused[0]!)} bytes` : `lines ${shown.join(', ')}${more} are`;
  return new UsageError('LINES_TOO_LARGE', `${plural(refused.length, 'line')} not sent: ${which} over the limit of ${MAX_BODY_BYTES} bytes (64 KiB) per message`, {
    hint: 'split long lines (e.g. fold -b -w 65536) and send them again; every other line was sent',
  });
}

export const run: CommandRun = async (ctx, args, opts) => {
  const name = String(args.name);
  const words = (args.text as string[] | undefined) ?? [];
  const lines = opts.lines === true;
  const group = name.startsWith('@') ? name.slice(1) : undefined; // send @NAME: a group (src/client/groups.ts)
  if (group === undefined && !isValidLabel(name))
    throw new UsageError('BAD_NAME', `invalid name "${name}"`, {
      hint: 'names are 1-32 characters a-z, 0-9, ".", "_" or "-" (a contact from another relay: name@host:port, see hush contacts)',
    });
  const files = (opts.file as string[] | undefined) ?? [];
  if (files.length > 0) {
    if (lines) throw new UsageError('LINES_WITH_FILE', '--lines and --file do not go together', { hint: 'send the file, then the lines in a second hush send' });
    const { sendFiles } = await import('../send-files.js');
    return sendFiles(ctx, name, files, words, opts.name as string | undefined);
  }
  if (opts.name !== undefined) throw new UsageError('NAME_WITHOUT_FILE', '--name names a file sent from stdin (--file -)', { hint: 'add --file -, or drop --name' });
  if (lines && words.length > 0) throw new UsageError('LINES_WITH_TEXT', '--lines reads stdin, but text was given as arguments', { hint: 'drop --lines, or pipe the text in' });

  const stdin = ctx.stdin ?? process.stdin;
  // Reading a terminal: say what we wait for (stdin is where the text comes from).
  if (words.length === 0 && stdin.isTTY) {
    ctx.out.info(lines ? 'type the messages, one per line; end with Ctrl-D' : 'type the message, end with Ctrl-D');
  }

  // One message: check it before unlocking anything.
  let single: string | undefined;
  if (!lines) {
    if (words.length > 0) single = words.join(' ');
    else {
      const { bytes, total } = await readAll(stdin);
      if (total > MAX_BODY_BYTES + 2) checkBody(new Uint8Array(total));
      let b: Buffer = bytes;
      if (b.length > 0 && b[b.length - 1] === 10) b = b.subarray(0, b.length > 1 && b[b.length - 2] === 13 ? -2 : -1);
      single = decodeText(b, 'stdin');
    }
    if (single.trim() === '') throw new UsageError('EMPTY_MESSAGE', 'the message is empty', { hint: 'give the text as arguments or on stdin' });
    checkBody(new TextEncoder().encode(single));
  }

  // Inside `hush daemon`: its shared sender (one connection, batched with other requests).
  const shared = group === undefined ? await ctx.backend?.sender?.(ctx) : undefined;
  if (shared) return (await import('../send-batched.js')).sendBatched(ctx, shared, name, single, stdin);

  const s = await openSession(ctx);
  let newSent = 0;
  let oldSent = 0;
  let newQueued = 0;
  let groupPosts = 0;
  const groupLines: { eids: string[]; line: Record<string, unknown> }[] = [];
  let inputError: unknown;
  const refused: InputLine[] = [];
  const failed: DrainResult['failed'] = [];
  try {
    s.m.on('sent', (e) => {
      if (e.fromOutbox) oldSent++;
      else newSent++;
      if (ctx.out.json) ctx.out.data({ event: 'sent', to: e.to, id: e.id, time: e.time, sealed: e.sealed, protocol: e.protocol }, '');
    });
    const contact = group === undefined ? await s.m.resolveRecipient(name) : undefined;
    if (contact)
      await s.m.prepareSend(contact); // v2 session found or started, or v1 (said once; refused by --require-fs)
    else findGroup(s.m.store, name); // an unknown group fails before the outbox is touched
    const old = await s.m.flushOutbox();
    failed.push(...old.failed);
    const pipe = s.m.sendPipeline();
    const submit = async (qs: QueuedMessage[]): Promise<void> => {
      newQueued += qs.length;
      for (const q of qs) await pipe.submit(q);
    };
    const warned = new Set<string>();
    const queue = async (texts: string[]): Promise<QueuedMessage[]> => {
      if (contact) {
        const queued = await s.m.queueMessages(contact, texts);
        // Test only: the messages (and a v2 session's advanced state) are committed, nothing sent (README).
        if (ctx.env.HUSH_TEST_CRASH === 'after-queue') process.kill(process.pid, 'SIGKILL');
        return queued;
      }
      const out: QueuedMessage[] = [];
      for (const text of texts) {
        const sender = new MessengerGroupSender(s.m);
        const fan = await postToGroup(s.m.store, sender, { me: { signPk: s.unlocked.identity.signPk, name: s.m.name }, random: randomBytes, now: Date.now }, group!, text);
        const fresh = { ...fan, excluded: fan.excluded.filter((x) => !warned.has(x.name)) };
        for (const x of fan.excluded) warned.add(x.name);
        warnExcluded(ctx.out, fresh);
        // Said once the relay accepted every copy of the post (after the drain below).
        const line = { event: 'sent', group: fan.group, id: fan.id, epoch: fan.epoch, to: fan.to.map((c) => c.label), excluded: fan.excluded.map((x) => x.name) };
        groupLines.push({ eids: sender.queued.map((q) => q.eid), line });
        groupPosts++;
        out.push(...sender.queued);
        if (ctx.env.HUSH_TEST_CRASH === 'mid-fanout' && sender.queued.length > 1) {
          // Test only: the first copy reaches the relay, then the process dies (README).
          const one = s.m.sendPipeline();
          await one.submit(sender.queued[0]!);
          await one.drain();
          process.kill(process.pid, 'SIGKILL');
        }
      }
      return out;
    };
    if (single !== undefined) await submit(await queue([single]));
    else {
      try {
        for await (const group of lineGroups(stdin)) {
          const texts = groupTexts(group, refused, (w) => ctx.out.warn(w));
          if (texts.length > 0) await submit(await queue(texts));
        }
      } catch (e) {
        inputError = e; // what was read before still goes out; the error is reported after
      }
    }
    const r = await pipe.drain();
    failed.push(...r.failed);
    const refusedEids = new Set(failed.map((f) => f.eid));
    for (const g of groupLines) if (ctx.out.json && !g.eids.some((e) => refusedEids.has(e))) ctx.out.data(g.line, '');
    await s.m.syncTokens(); // hands a delivery token to a contact written to for the first time
  } catch (e) {
    await s.close();
    throw e;
  }
  // Receipts wait in the outbox too, but only messages (those with a history row) are counted.
  const kept = s.m.store.listOutbox().filter((e) => group !== undefined || s.m.store.findMessage(e.msgId, 'out') !== undefined).length;
  await s.close();
  finishSend(ctx, name, { newSent, groupPosts, oldSent, failed, kept, relayUrl: s.relay.url, inputError, refused, lines, newQueued });
};

/** What a send came to, said as `hush send` says it (the direct path and the daemon's shared sender). */
export interface SendOutcome {
  newSent: number;
  groupPosts: number;
  oldSent: number;
  failed: DrainResult['failed'];
  kept: number;
  relayUrl: string;
  inputError: unknown;
  refused: InputLine[];
  lines: boolean;
  newQueued: number;
}

/** The summary lines, then the error for what did not go out (or bad input), if any. */
export function finishSend(ctx: Parameters<CommandRun>[0], name: string, o: SendOutcome): void {
  const { newSent, groupPosts, oldSent, failed, kept, inputError, refused, lines, newQueued } = o;
  if (newSent > 0) ctx.out.info(`sent ${plural(newSent, 'message')} to ${name}`);
  if (groupPosts > 0 && failed.length === 0) ctx.out.info(`sent ${plural(groupPosts, 'message')} to ${name}`);
  if (oldSent > 0) ctx.out.info(`sent ${plural(oldSent, 'queued message')} from the outbox`);
  if (failed.length > 0) {
    const first = failed[0]!.error;
    if (first instanceof RelayError && ['RELAY_UNREACHABLE', 'RELAY_TIMEOUT', 'RELAY_CLOSED', 'SHUTTING_DOWN'].includes(first.code)) {
      throw unreachable(o.relayUrl, kept, first);
    }
    const what = first instanceof RelayError && first.code === 'UNKNOWN_RECIPIENT' ? `the relay does not know ${failed[0]!.to} (that key is not registered there)` : first.message;
    throw new RelayError(first.code, `${what}; ${plural(kept, 'message')} kept in the outbox`, {
      hint: first.hint ?? 'it will go out with the next hush send, pull or listen',
      cause: first,
    });
  }
  if (inputError) throw inputError;
  if (refused.length > 0) throw linesRefused(refused);
  if (lines && newQueued === 0) throw new UsageError('EMPTY_MESSAGE', 'stdin had no lines to send', { hint: 'pipe some text in' });
}
