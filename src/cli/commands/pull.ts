/**
 * hush pull: flushes the outbox, fetches waiting mail, opens and stores it, THEN acks it, and
 * prints the new messages.
 * Output: human on stdout `2026-11-23 20:40  bob: text` per message, warnings about
 * quarantined mail on stderr. --json, one object per line on stdout:
 *   {"event":"message","id","from","to","time","body"}
 *   {"event":"quarantined","reason","eid","from"}        (from: a contact name or null)
 *   {"event":"sent","to","id","time"}                   (outbox messages that went out now)
 * Exit 0 when the pull worked, even if some mail was quarantined.
 */
import { tip } from '../common.js';
import { plural } from '../format.js';
import { openSession, printMessage, printQuarantinedJson, warnQuarantined } from '../messaging.js';
import { printGroupEvent, reannounceMissed } from '../group-output.js';
import type { QuarantineReport, ReceivedMessage } from '../../client/messenger.js';
import { autoSaveDir, autoSaver } from '../auto-save.js';
import type { CommandRun } from './index.js';

export const run: CommandRun = async (ctx, _args, opts) => {
  const saveDir = await autoSaveDir(opts.autoSave);
  const s = await openSession(ctx, {
    readReceipts: opts.readReceipts,
    deliveryReceipts: opts.deliveryReceipts,
    receiptDelay: opts.receiptDelay,
    quarantineLimits: opts.quarantineLimits,
    ratchetLimits: opts.ratchetLimits,
  });
  const quarantined: QuarantineReport[] = [];
  // What was printed is marked read (and its read receipts queued) batch by batch, in a turn of
  // the event loop after its batch, instead of all at the end. The turn comes before the next
  // batch is opened (pull-pages waits a turn first), and markRead queues its receipts, which
  // seal in the senders' sessions, synchronously when called: never while a batch holds those
  // sessions (it would have to open the batch again, SESSION_RACE). Its sends follow each
  // other on the Messenger's chain. The first failure is the command's, at the end.
  const shown: ReceivedMessage[] = [];
  const marking: Promise<void>[] = [];
  let markFailed: { error: unknown } | undefined;
  let markSoon = false;
  const markShown = (): void => {
    markSoon = false;
    const batch = shown.splice(0);
    if (batch.length === 0 || markFailed) return;
    marking.push(s.m.markRead(batch).catch((error: unknown) => void (markFailed ??= { error })));
  };
  try {
    const saver = saveDir === undefined ? undefined : autoSaver(ctx.out, s.m, saveDir);
    s.m.on('message', (msg) => {
      printMessage(ctx.out, msg);
      saver?.add(msg);
      shown.push(msg);
      if (!markSoon) {
        markSoon = true;
        setImmediate(markShown);
      }
    });
    s.m.on('group', (e) => printGroupEvent(ctx.out, e));
    s.m.on('quarantined', (q) => {
      quarantined.push(q);
      printQuarantinedJson(ctx.out, q);
    });
    s.m.on('sent', (e) => {
      if (ctx.out.json) ctx.out.data({ event: 'sent', to: e.to, id: e.id, time: e.time, sealed: e.sealed }, '');
    });
    const { outbox, result } = await s.m.pull();
    await reannounceMissed(ctx.out, s, result.groups); // changes the members we added concurrently missed
    result.messages.push(...s.m.showStored()); // stored by another reader (listen, hush daemon) meanwhile
    // Printed: read receipts (unless turned off), group posts too (kept apart: each is looked for where it is stored).
    markShown(); // what is left, now
    await Promise.all(marking);
    if (markFailed) throw markFailed.error;
    await s.m.markRead(
      [],
      result.groups.filter((e) => e.type === 'post'),
    );
    await saver?.drain();
    if (outbox.sent > 0) ctx.out.info(`sent ${plural(outbox.sent, 'queued message')} from the outbox`);
    if (outbox.failed.length > 0) {
      ctx.out.warn(`${plural(outbox.failed.length, 'message')} still in the outbox: ${outbox.failed[0]!.error.message}`);
    }
    warnQuarantined(ctx.out, quarantined);
    if (result.messages.length === 0 && result.groups.length === 0 && quarantined.length === 0) tip(ctx, 'no new messages');
  } finally {
    await Promise.all(marking); // never rejects
    await s.close();
  }
};
