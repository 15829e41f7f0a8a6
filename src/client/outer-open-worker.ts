/**
 * The thread of src/client/outer-open.ts: opens the outer layer of v2 envelopes (one X25519
 * DH and one XSalsa20-Poly1305 open each, docs/PROTOCOL.md §9.5) with the box secret key it
 * was started with, and answers the inner bytes, or TAMPERED, for each. Pure: it changes
 * nothing and decides nothing; the main thread judges what it answers exactly as it judges
 * an envelope it opened itself. The key is wiped when the main thread says `close`. A page
 * the main thread claimed first (its claim word) is answered undefined, unopened.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import { openEnvelopeV2 } from '../crypto/envelope-v2.js';
import { wipe } from '../crypto/nacl.js';
import { ENVELOPE_V2_VERSION } from '../protocol/session-wire.js';
import { CLAIM_FREE, CLAIM_THREAD, packAnswer, type PageRequest, pageEnvelopes } from './outer-open.js';
import { AheadChains, type ChainAnchor } from './ahead-chains.js';
import { makeRecord } from './history-record.js';

const port = parentPort!;
const data = workerData as { boxSk: Uint8Array; anchors?: ChainAnchor[]; unseen?: number; historyKey?: Uint8Array };
const boxSk = new Uint8Array(data.boxSk);
wipe(data.boxSk); // the clone workerData made
// The history key, to make the records of the messages opened ahead (src/client/history-record.ts).
const historyKey = data.historyKey;
const contactOf = new Map((data.anchors ?? []).map((a) => [a.row, a.contactId]));
const chains = new AheadChains(data.anchors ?? []); // holds (and wipes at close) the anchors' secrets
chains.passed(data.unseen ?? 0); // the first page, opened by the main thread

/** Requests read ahead of their turn (waiting()), answered in order after the one at hand. */
const queued: (PageRequest | 'close')[] = [];
let closed = false;

/** Is another request already waiting for the thread? (It is then behind the main thread: no records.) */
function waiting(): boolean {
  if (queued.length > 0) return true;
  const next = receiveMessageOnPort(port);
  if (!next) return false;
  queued.push(next.message as PageRequest | 'close');
  return true;
}

port.on('message', (m: PageRequest | 'close') => {
  handle(m);
  while (queued.length > 0 && !closed) handle(queued.shift()!);
});

function handle(m: PageRequest | 'close'): void {
  if (m === 'close') {
    closed = true;
    wipe(boxSk, historyKey);
    chains.close();
    port.close();
    return;
  }
  if (Atomics.compareExchange(m.claim, 0, CLAIM_FREE, CLAIM_THREAD) !== CLAIM_FREE) {
    chains.passed(m.ends.length);
    port.postMessage({ id: m.id, page: undefined }); // the main thread opened it
    return;
  }
  const outer = pageEnvelopes(m).map((env) => {
    if (env[0] !== ENVELOPE_V2_VERSION) return undefined; // not ours to open (v1: the main thread)
    try {
      return openEnvelopeV2(boxSk, env);
    } catch {
      return 'TAMPERED' as const;
    }
  });
  // The ratchet layer, where a receiving chain we run ahead opens it (the main thread decides).
  const ahead = outer.map((inner) => (inner instanceof Uint8Array ? chains.open(inner) : undefined));
  // Its history record too, for the main thread to store when it is exactly the one it would seal.
  if (historyKey && !waiting()) {
    for (const a of ahead) {
      const contactId = a && contactOf.get(a.row);
      const r = contactId ? makeRecord(a.plaintext, contactId, historyKey) : undefined;
      if (r) a!.record = r;
    }
  }
  // One transferred buffer back (packAnswer); the thread's own copies of the secrets are wiped.
  const page = packAnswer({ outer, ahead });
  for (const a of ahead) if (a) wipe(a.ckBefore, a.ckAfter, a.plaintext);
  port.postMessage({ id: m.id, page }, [page.bytes.buffer, page.ends.buffer, page.kinds.buffer, page.rows.buffer, page.meta.buffer] as ArrayBuffer[]);
}
