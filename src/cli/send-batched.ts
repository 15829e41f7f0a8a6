/**
 * `hush send` inside `hush daemon`, on the daemon's shared sender (src/daemon/send-batcher.ts):
 * the same input rules, output and errors as the direct path (./commands/send.ts), but no
 * session of its own: the messages join the daemon's next batch (one store transaction, one
 * pipelined relay send with the other clients' messages). Groups and files keep the direct
 * path's code (a session per command).
 *
 * --lines streams: each chunk of lines read becomes one request, a few in flight at once, so a
 * long input is sent as it arrives and is never all in memory.
 */
import type { BatchSender, BatchSendResult, CommandContext } from './commands/index.js';
import { finishSend, groupTexts, type InputLine, lineGroups } from './commands/send.js';
import { homePaths } from './common.js';

/** --lines chunks sent and not yet answered, at most (back-pressure on stdin). */
const LINES_IN_FLIGHT = 4;

export async function sendBatched(ctx: CommandContext, sender: BatchSender, name: string, single: string | undefined, stdin: NodeJS.ReadableStream): Promise<void> {
  const pending: Promise<BatchSendResult>[] = [];
  const results: BatchSendResult[] = [];
  const refused: InputLine[] = [];
  let inputError: unknown;
  let newQueued = 0;
  const submit = (texts: string[]): void => {
    const p = sender.send(name, texts);
    p.catch(() => undefined); // awaited in order below; a later one may fail while an earlier one is awaited
    pending.push(p);
  };
  const take = async (): Promise<void> => {
    results.push(await pending.shift()!);
  };
  // The home's warnings, as the direct path prints them first; awaited before anything is
  // printed, and not before the message joins the batcher (requests keep their order there).
  const home = homePaths(ctx);
  if (single !== undefined) {
    newQueued = 1;
    submit([single]);
    await home.catch(() => undefined);
  } else {
    await home;
    try {
      for await (const group of lineGroups(stdin)) {
        const texts = groupTexts(group, refused, (w) => ctx.out.warn(w));
        if (texts.length === 0) continue;
        newQueued += texts.length;
        submit(texts);
        while (pending.length >= LINES_IN_FLIGHT) await take();
      }
    } catch (e) {
      inputError = e; // what was read before still goes out; the error is reported after
    }
    // Nothing to send: still resolve the name and flush the outbox, as the direct path does.
    if (newQueued === 0 && pending.length === 0 && results.length === 0) submit([]);
  }
  try {
    while (pending.length > 0) await take();
  } finally {
    await home; // its error (if any) after the send's own
  }

  let newSent = 0;
  let oldSent = 0;
  const failed: BatchSendResult['failed'] = [];
  for (const r of results) {
    for (const n of r.notes) sender.printNote(ctx.out, n);
    for (const e of r.sent) {
      if (e.fromOutbox) oldSent++;
      else newSent++;
      if (ctx.out.json) ctx.out.data({ event: 'sent', to: e.to, id: e.id, time: e.time, sealed: e.sealed, protocol: e.protocol }, '');
    }
    failed.push(...r.failed);
  }
  const last = results[results.length - 1]!;
  finishSend(ctx, name, { newSent, groupPosts: 0, oldSent, failed, kept: last.kept, relayUrl: last.relayUrl, inputError, refused, lines: single === undefined, newQueued });
}
