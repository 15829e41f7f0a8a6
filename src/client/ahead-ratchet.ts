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
 * and never keeps a message key. The thread's side is src/client/ahead-chains.ts.
 */
import { bytesEqual } from '../protocol/encoding.js';
import type { SessionState } from '../protocol/session-state.js';
import type { InnerV2 } from '../protocol/session-wire.js';
import { sessionAd } from '../crypto/pqxdh.js';
import type { RatchetLimits } from '../crypto/ratchet.js';
import { OWN_CKR, replaceSecret, stepOf } from '../crypto/ratchet-state.js';
import type { AheadOpened, ChainAnchor } from './ahead-chains.js';

export type { AheadOpened, ChainAnchor } from './ahead-chains.js';

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
  // A copy-on-write step as ratchetDecrypt's (src/crypto/ratchet-state.ts): the new state
  // shares every array but its chain key with `state` (no copy of the skipped keys per message).
  const st = stepOf(state);
  replaceSecret(st, 'ckr', OWN_CKR, new Uint8Array(a.ckAfter));
  st.s.nr += 1;
  // A reply decrypted: the responder has the session, stop repeating the PQXDH header.
  if (st.s.role === 'initiator') delete st.s.pendingInit;
  return { state: st.s, plaintext: a.plaintext };
}
