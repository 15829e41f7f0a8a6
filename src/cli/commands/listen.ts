/**
 * hush listen: stays connected and prints messages as they arrive (same output as pull, one
 * JSON line per message with --json, written as each arrives). Flushes the outbox and pulls
 * waiting mail first. Reconnects with backoff when the relay goes away, printing one stderr
 * line per state change. SIGINT / SIGTERM close the connection and exit 0.
 * stderr: `hush: listening on URL as NAME` once connected (after the initial pull),
 * `hush: lost the relay at URL (…); reconnecting`, `hush: reconnected to URL`.
 */
import { openSession, printMessage, printQuarantinedJson, warnQuarantined } from '../messaging.js';
import { printGroupEvent } from '../group-output.js';
import type { ReceivedMessage } from '../../client/messenger.js';
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
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    let shown: Pick<ReceivedMessage, 'id'>[] = [];
    const saver = saveDir === undefined ? undefined : autoSaver(ctx.out, s.m, saveDir);
    const read = (msg: Pick<ReceivedMessage, 'id'>): void => {
      // printed: one read receipt per sender per batch (unless turned off)
      if (shown.push(msg) === 1) {
        setImmediate(() => {
          const batch = shown;
          shown = [];
          s.m.markRead(batch).catch(() => undefined);
        });
      }
    };
    s.m.on('group', (e) => {
      printGroupEvent(ctx.out, e);
      if (e.type === 'post') read(e); // a group post: read receipt to its author (§10.6)
    });
    s.m.on('message', (msg) => {
      printMessage(ctx.out, msg);
      saver?.add(msg);
      read(msg);
    });
    s.m.on('quarantined', (q) => {
      printQuarantinedJson(ctx.out, q);
      warnQuarantined(ctx.out, [q]);
    });
    s.m.on('sent', (e) => {
      if (ctx.out.json) ctx.out.data({ event: 'sent', to: e.to, id: e.id, time: e.time, sealed: e.sealed }, '');
    });
    s.m.on('state', (st) => {
      if (st.state === 'connected') ctx.out.info(`hush: listening on ${st.url} as ${s.unlocked.file.name}`);
      else if (st.state === 'reconnected') ctx.out.info(`hush: reconnected to ${st.url}`);
      else ctx.out.info(`hush: lost the relay at ${st.url} (${st.error}); reconnecting`);
    });
    await s.m.listen(ac.signal);
    await saver?.drain();
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    await s.close();
  }
};
