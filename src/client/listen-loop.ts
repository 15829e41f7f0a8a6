/**
 * `listen`'s connection loop (README "listen"; docs/PROTOCOL.md §7.4 push): connect, flush the
 * outbox, pull what waits, then store pushes as they come (the same path as pull: stored, THEN
 * acked), until the signal aborts. A dropped connection is dialled again with exponential
 * backoff (200 ms doubling to 10 s, with jitter); one 'state' event per change, not per attempt.
 * Rejects only for failures a retry cannot fix (authentication refused, store errors).
 *
 * Meanwhile a timer shows what another process of this home stored (a second listen or a chat
 * that got the same push first: PRAGMA data_version moved) and sends the receipts whose "not
 * before" time has come (src/client/outbox-sender.ts). While connected, another keeps the
 * prekeys on the relay filled and the signed prekey rotated (Messenger.syncPrekeys, every
 * Messenger.prekeyCheckMs, after the batches before it): a listen, chat or daemon may stay
 * connected for longer than a signed prekey lives.
 */
import { RelayError } from '../errors.js';
import type { Messenger } from './messenger.js';
import type { RelayClient } from './relay-client.js';
import { sleep } from './send-pipeline.js';

/** Failures on connect that retrying will not fix. */
const FATAL_CONNECT = new Set(['AUTH_WRONG_URL', 'AUTH_FAILED', 'AUTH_STALE', 'RELAY_PROTOCOL', 'BAD_RELAY_URL']);
const FIRST_DELAY_MS = 200;
const MAX_DELAY_MS = 10_000;
/** How often listen looks for messages another process of this home stored (ms). */
const STORE_POLL_MS = 500;

/** Messenger.listen: the connection loop below, with the store poll and the receipts' timer beside it. */
export async function listen(m: Messenger, signal: AbortSignal): Promise<void> {
  const last = { dv: m.store.dataVersion() };
  const poll = setInterval(() => {
    try {
      pollStore(m, last);
      m.sender.sendDueReceipts();
    } catch {
      // the next batch reports store failures
    }
  }, STORE_POLL_MS);
  poll.unref();
  try {
    await listenLoop(m, signal);
  } finally {
    clearInterval(poll);
  }
}

/** Shows what another process of this home stored meanwhile (after any batch in progress). */
function pollStore(m: Messenger, last: { dv: number }): void {
  const dv = m.store.dataVersion();
  if (dv === last.dv) return;
  last.dv = dv;
  const run = (): void => {
    m.showStored();
  };
  void m.serialise(run);
}

async function listenLoop(m: Messenger, signal: AbortSignal): Promise<void> {
  const url = m.relayUrl;
  let delay = FIRST_DELAY_MS;
  let everConnected = false;
  let down = false;
  const disconnected = (error: string): void => {
    if (!down) m.emit('state', { state: 'disconnected', url, error });
    down = true;
  };
  while (!signal.aborted) {
    let c: RelayClient;
    m.connections.resetFailure();
    try {
      c = await m.client();
    } catch (e) {
      if (!(e instanceof RelayError) || FATAL_CONNECT.has(e.code)) throw e;
      disconnected(e.message);
      await sleep(delay / 2 + (delay / 2) * (m.random(1)[0]! / 255), signal);
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      continue;
    }
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    const onPush = pushHandler(m, c);
    c.on('push', onPush);
    try {
      await m.flushOutbox();
      await m.pullFrom(c);
      await m.syncTokens();
      await m.syncPrekeys();
    } catch (e) {
      c.off('push', onPush);
      if (!(e instanceof RelayError)) throw e;
      if (!c.closed) await c.close();
      disconnected(e.message);
      continue;
    }
    delay = FIRST_DELAY_MS;
    m.emit('state', { state: everConnected ? 'reconnected' : 'connected', url: c.url }); // c.url: a fallback URL when relayUrl did not answer
    everConnected = true;
    down = false;
    const prekeys = setInterval(() => void m.serialise(() => m.syncPrekeys()).catch(() => undefined), m.prekeyCheckMs);
    prekeys.unref();
    await Promise.race([closed, new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })))]);
    clearInterval(prekeys);
    c.off('push', onPush);
    if (signal.aborted) break;
    // Always said: the connection was up (down is false here).
    disconnected('the connection closed');
  }
  await m.close();
}

/**
 * Pushes on `c`: ephemerals are opened and dispatched at once (never stored by the relay,
 * nothing to ack); stored mail is gathered for one tick and processed as one batch, acked on
 * `c` after its commit. A failure (connection lost mid-batch) leaves the mail unacked: it is
 * pulled again on reconnect.
 */
function pushHandler(m: Messenger, c: RelayClient): (item: { eid: string; env: Uint8Array; ephemeral: boolean }) => void {
  let pending: { eid: string; env: Uint8Array }[] = [];
  let scheduled = false;
  return (item) => {
    if (item.ephemeral) {
      void m.processBatch([item], false).catch(() => undefined);
      return;
    }
    pending.push(item);
    if (scheduled) return;
    scheduled = true;
    setImmediate(() => {
      scheduled = false;
      const batch = pending;
      pending = [];
      m.processBatch(batch, (eids) => c.ack(eids)).catch((e: unknown) => {
        if (!(e instanceof RelayError)) m.emit('state', { state: 'disconnected', url: m.relayUrl, error: String((e as Error).message) });
      });
    });
  };
}
