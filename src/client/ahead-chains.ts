/**
 * The pull thread's copies of the receiving chains (src/client/ahead-ratchet.ts says what they
 * are for and the rule by which the main thread takes an answer). This module runs in the
 * thread (src/client/outer-open-worker.ts), so it loads only what the thread needs: the chain
 * and message-key derivations come from src/crypto/ratchet-kdf.ts, which src/crypto/ratchet.ts
 * uses too, not from ratchet.ts itself, whose PQXDH import would load ML-KEM into the thread
 * and delay its start (the main thread then opens more pages itself). The unit tests check
 * every answer against ratchetDecrypt's.
 */
import { bytesEqual } from '../protocol/encoding.js';
import { type InnerV2, parseInnerV2 } from '../protocol/session-wire.js';
import { aeadOpen } from '../crypto/kdf.js';
import { kdfCk, kdfRk, messageKeys } from '../crypto/ratchet-kdf.js';
import { wipe, x25519Uncached } from '../crypto/nacl.js';

/**
 * Chain steps the thread takes to reach one message at most, beyond the envelopes it did not
 * see (`unseen`: pages the main thread opened itself). Those steps come before the message
 * authenticates, so a longer reach is tried once per chain: a forged header with a large index
 * costs the thread one such walk per chain per pull, not one per envelope.
 */
const MAX_AHEAD_STEPS = 1000;

/** One stored session as the thread starts from it (secrets: the thread wipes them at close). */
export interface ChainAnchor {
  /** The session's row in the store (what an answer names). */
  row: number;
  /** The peer's signing key (the sender an inner names). */
  peerSignPk: Uint8Array;
  /** The session's AD (docs/PROTOCOL.md §9.3). */
  ad: Uint8Array;
  dhr?: Uint8Array;
  ckr?: Uint8Array;
  nr: number;
  /** For the one DH ratchet step the thread may take: the root key and our ratchet secret. */
  rk: Uint8Array;
  dhsSk: Uint8Array;
}

/** The thread's answer for one message: the chain step it took and the payload it opened. */
export interface AheadOpened {
  row: number;
  /** The chain key stepped from (the session's ckr it assumed). */
  ckBefore: Uint8Array;
  /** The next chain key (the session's ckr after this message). */
  ckAfter: Uint8Array;
  /** The decrypted payload (an encoded PayloadV2). */
  plaintext: Uint8Array;
}

interface Chain extends ChainAnchor {
  /** The one DH step was taken (rk and dhsSk are then wiped: the main thread drew new ones). */
  stepped: boolean;
  /** A reach past MAX_AHEAD_STEPS failed to authenticate: none is tried again. */
  farFailed: boolean;
}

/** The thread's side: steps copies of the receiving chains and opens what it can. */
export class AheadChains {
  private readonly byPeer = new Map<string, Chain[]>();
  /** Envelopes of this pull the thread did not see (the main thread opened them). */
  private unseen = 0;

  constructor(anchors: readonly ChainAnchor[]) {
    for (const a of anchors) {
      const k = Buffer.from(a.peerSignPk).toString('hex');
      const list = this.byPeer.get(k) ?? [];
      list.push({ ...a, stepped: false, farFailed: false });
      this.byPeer.set(k, list);
    }
  }

  /** `n` envelopes were opened by the main thread, not here: a chain may have moved that far meanwhile. */
  passed(n: number): void {
    this.unseen += n;
  }

  /** Opens one inner v2 ahead, or undefined (not parsable, no chain of ours, does not authenticate, too far). */
  open(innerBytes: Uint8Array): AheadOpened | undefined {
    let inner: InnerV2;
    try {
      inner = parseInnerV2(innerBytes);
    } catch {
      return undefined;
    }
    const chains = this.byPeer.get(Buffer.from(inner.senderSignPk).toString('hex'));
    if (!chains) return undefined;
    for (const c of chains) {
      const r = this.tryChain(c, inner);
      if (r) return r;
    }
    return undefined;
  }

  private tryChain(c: Chain, inner: InnerV2): AheadOpened | undefined {
    const h = inner.header;
    let ck: Uint8Array;
    let from: number;
    let newChain = false;
    if (c.dhr && c.ckr && bytesEqual(h.dhPk, c.dhr)) {
      if (h.n < c.nr) return undefined; // already past it (a duplicate, or a skipped key's: the main thread)
      ck = c.ckr;
      from = c.nr;
    } else {
      if (c.stepped) return undefined; // a second new chain needs the key pair the main thread drew
      try {
        const dh = x25519Uncached(c.dhsSk, h.dhPk); // no copy of dhsSk left in a key cache
        const [rk1, ck0] = kdfRk(c.rk, dh);
        wipe(rk1); // the root key is the main thread's to keep
        ck = ck0;
        wipe(dh);
      } catch {
        return undefined; // a low-order key: the main thread reports it
      }
      from = 0;
      newChain = true;
    }
    const far = h.n - from > MAX_AHEAD_STEPS;
    if (far && (c.farFailed || h.n - from > MAX_AHEAD_STEPS + this.unseen)) return undefined;
    // Step to the message's index without keeping any key of the messages passed over.
    let cur = ck;
    for (let i = from; i < h.n; i++) {
      const [next, mk] = kdfCk(cur);
      wipe(mk);
      if (cur !== c.ckr) wipe(cur);
      cur = next;
    }
    const [after, mk] = kdfCk(cur);
    const { key, nonce } = messageKeys(mk);
    const ad = new Uint8Array(c.ad.length + inner.prefix.length);
    ad.set(c.ad);
    ad.set(inner.prefix, c.ad.length);
    const pt = aeadOpen(key, nonce, inner.ciphertext, ad);
    wipe(key, nonce, mk);
    if (!pt) {
      if (cur !== c.ckr) wipe(cur);
      wipe(after);
      if (far) c.farFailed = true;
      return undefined; // not authentic under this chain: nothing moves
    }
    // The chain moves to after this message (as the main thread's state will).
    const before = new Uint8Array(cur);
    if (cur !== c.ckr) wipe(cur);
    if (c.ckr) wipe(c.ckr);
    c.ckr = after;
    c.nr = h.n + 1;
    if (newChain) {
      c.dhr = new Uint8Array(h.dhPk);
      c.stepped = true;
      wipe(c.rk, c.dhsSk);
    }
    // Only the next message of the chain the main thread holds is worth an answer (else it opens it).
    if (newChain || h.n !== from) {
      wipe(before, pt);
      return undefined;
    }
    return { row: c.row, ckBefore: before, ckAfter: new Uint8Array(after), plaintext: pt };
  }

  /** Wipes every secret held. */
  close(): void {
    for (const list of this.byPeer.values()) for (const c of list) wipe(c.ckr, c.rk, c.dhsSk);
    this.byPeer.clear();
  }
}
