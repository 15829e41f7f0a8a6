/**
 * A long pull's receiving chains, run ahead on the outer-open thread (docs/PERFORMANCE.md
 * "Pull speed-ups (second session)"). Most of what a pull receives is the next message of a
 * receiving chain the session already holds; opening it costs the chain step (KDF_CK), the
 * message keys (HKDF) and the AEAD open (docs/PROTOCOL.md §9.4), about half of the main
 * thread's work per message. Those depend only on the chain key, so the thread that opens the
 * outer layer of a page also steps copies of the receiving chains and opens the messages, and
 * the main thread, which holds the session states and decides, takes an answer only when it
 * is exactly the step its own state would take:
 *
 *   - the message is an ordinary message (type 2, not a prekey message) of the session the
 *     answer names, on that session's current receiving chain (header ratchet key = dhr) at
 *     its next index (n = nr), none of the session's skipped keys is due to be pruned, and
 *   - the chain key the thread stepped from equals the session's ckr, byte for byte.
 *
 * Then the new state is the old one with ckr = the thread's next chain key and nr + 1 (and a
 * reply's pendingInit dropped), which is what ratchetDecrypt returns in that case; anything
 * else (a new chain, a gap, a skipped key used or pruned, a duplicate, a prekey message, another session's
 * state moved meanwhile) is opened by the main thread with openMessage as before. The thread
 * never decides: a message that does not authenticate gets no answer, and nothing it computes
 * is stored unless the main thread took it in the batch's transaction.
 *
 * The thread starts from the states stored when the pull began (`anchorsOf`): their receiving
 * chains, and, for one DH ratchet step per session, the root key and ratchet secret that step
 * needs (its receiving chain key does not depend on the new key pair the main thread draws).
 * It moves a chain forward past messages it did not see (pages the main thread opened itself)
 * and never keeps a message key.
 */
import { bytesEqual } from '../protocol/encoding.js';
import type { SessionState } from '../protocol/session-state.js';
import { type InnerV2, parseInnerV2 } from '../protocol/session-wire.js';
import { aeadOpen } from '../crypto/kdf.js';
import { wipe, x25519 } from '../crypto/nacl.js';
import { sessionAd } from '../crypto/pqxdh.js';
import { cloneSession, kdfCk, kdfRk, messageKeys, type RatchetLimits } from '../crypto/ratchet.js';

/** Chain steps the thread takes to reach one message at most (past that, the main thread opens it). */
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

/** The receiving chains of every stored session, for the thread (read when the pull starts). */
export function anchorsOf(sessions: readonly { row: number; state: SessionState }[]): ChainAnchor[] {
  return sessions.map(({ row, state: s }) => {
    const a: ChainAnchor = {
      row,
      peerSignPk: s.role === 'initiator' ? s.responderSignPk : s.initiatorSignPk,
      ad: sessionAd({ signPk: s.initiatorSignPk, boxPk: s.initiatorBoxPk }, { signPk: s.responderSignPk, boxPk: s.responderBoxPk }),
      nr: s.nr,
      rk: new Uint8Array(s.rk),
      dhsSk: new Uint8Array(s.dhsSk),
    };
    if (s.dhr) a.dhr = new Uint8Array(s.dhr);
    if (s.ckr) a.ckr = new Uint8Array(s.ckr);
    return a;
  });
}

interface Chain extends ChainAnchor {
  /** The one DH step was taken (rk and dhsSk are then wiped: the main thread drew new ones). */
  stepped: boolean;
}

/** The thread's side: steps copies of the receiving chains and opens what it can. */
export class AheadChains {
  private readonly byPeer = new Map<string, Chain[]>();

  constructor(anchors: readonly ChainAnchor[]) {
    for (const a of anchors) {
      const k = Buffer.from(a.peerSignPk).toString('hex');
      const list = this.byPeer.get(k) ?? [];
      list.push({ ...a, stepped: false });
      this.byPeer.set(k, list);
    }
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
        const dh = x25519(c.dhsSk, h.dhPk);
        const [rk1, ck0] = kdfRk(c.rk, dh);
        wipe(dh, rk1);
        ck = ck0;
      } catch {
        return undefined; // a low-order key: the main thread reports it
      }
      from = 0;
      newChain = true;
    }
    if (h.n - from > MAX_AHEAD_STEPS) return undefined;
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

/**
 * The main thread's side: the state after `inner` when `a` is exactly the step `state` takes
 * (see the module comment), with the plaintext; undefined when it is not (open it with
 * openMessage). `inner` must already be known to come from the session's peer.
 */
export function takeAhead(state: SessionState, inner: InnerV2, a: AheadOpened, now: number, limits: RatchetLimits): { state: SessionState; plaintext: Uint8Array } | undefined {
  const h = inner.header;
  if (inner.type !== 'message') return undefined;
  if (!state.dhr || !state.ckr || !bytesEqual(h.dhPk, state.dhr) || h.n !== state.nr) return undefined;
  // The skipped keys stay as they are only when none is due to expire or over the cap (else
  // ratchetDecrypt prunes them: the main thread opens it). None can be this message's: those
  // of the current chain are all below nr.
  if (state.skipped.length > limits.maxStoredSkipped) return undefined;
  for (const k of state.skipped) if (k.at + limits.skippedMaxAgeMs < now) return undefined;
  if (!bytesEqual(a.ckBefore, state.ckr)) return undefined;
  const s = cloneSession(state);
  wipe(s.ckr);
  s.ckr = new Uint8Array(a.ckAfter);
  s.nr += 1;
  // A reply decrypted: the responder has the session, stop repeating the PQXDH header.
  if (s.role === 'initiator') delete s.pendingInit;
  return { state: s, plaintext: a.plaintext };
}
