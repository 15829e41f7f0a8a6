/**
 * The thread of src/client/outer-open.ts: opens the outer layer of v2 envelopes (one X25519
 * DH and one XSalsa20-Poly1305 open each, docs/PROTOCOL.md §9.5) with the box secret key it
 * was started with, and answers the inner bytes, or TAMPERED, for each. Pure: it changes
 * nothing and decides nothing; the main thread judges what it answers exactly as it judges
 * an envelope it opened itself. The key is wiped when the main thread says `close`. A page
 * the main thread claimed first (its claim word) is answered undefined, unopened.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { wipe } from '../crypto/nacl.js';
import { CLAIM_FREE, CLAIM_THREAD, openOuter, packAnswer, type PageRequest, pageEnvelopes } from './outer-open.js';
import { AheadChains, type ChainAnchor } from './ahead-chains.js';

const port = parentPort!;
const data = workerData as { boxSk: Uint8Array; anchors?: ChainAnchor[]; unseen?: number };
const boxSk = new Uint8Array(data.boxSk);
wipe(data.boxSk); // the copy workerData's clone made: only boxSk holds the key, wiped at close
const chains = new AheadChains(data.anchors ?? []); // holds (and wipes at close) the anchors' secrets
chains.passed(data.unseen ?? 0); // the first page, opened by the main thread

port.on('message', (m: PageRequest | 'close') => {
  if (m === 'close') {
    wipe(boxSk);
    chains.close();
    port.close();
    return;
  }
  if (Atomics.compareExchange(m.claim, 0, CLAIM_FREE, CLAIM_THREAD) !== CLAIM_FREE) {
    chains.passed(m.ends.length);
    port.postMessage({ id: m.id, page: undefined }); // the main thread opened it
    return;
  }
  const outer = pageEnvelopes(m).map((env) => openOuter(boxSk, env)); // v1: undefined, the main thread's
  // The ratchet layer, where a receiving chain we run ahead opens it (the main thread decides).
  const ahead = outer.map((inner) => (inner instanceof Uint8Array ? chains.open(inner) : undefined));
  // One transferred buffer back (packAnswer); the thread's own copies of the secrets are wiped.
  const page = packAnswer({ outer, ahead });
  for (const a of ahead) if (a) wipe(a.ckBefore, a.ckAfter, a.plaintext);
  port.postMessage({ id: m.id, page }, [page.bytes.buffer, page.ends.buffer, page.kinds.buffer, page.rows.buffer] as ArrayBuffer[]);
});
