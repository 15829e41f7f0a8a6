/**
 * The state a Double Ratchet step returns (src/crypto/ratchet.ts), and how a replaced one is
 * wiped: a step's state is copy-on-write, sharing with its input every array the step did not
 * replace, so a caller that wipes a replaced state must spare what its successor holds
 * (wipeReplaced). Also the full copy capSkippedTotal works on (cloneSession).
 */
import type { SessionState, SkippedKey } from '../protocol/session-state.js';
import { wipe } from './nacl.js';

export const copy = (a: Uint8Array): Uint8Array => new Uint8Array(a);

/**
 * A copy whose secrets and key lists are its own (for capSkippedTotal, which drops and wipes
 * skipped keys of the copies): every secret (rk, dhsSk, the chain keys, each skipped key) and
 * every array that may change is copied. The public, never-changed fields (sessionId, the four
 * identity keys, retired ratchet keys, pendingInit) are shared with the input. A ratchet step
 * copies nothing (stepOf).
 */
export function cloneSession(s: SessionState): SessionState {
  // One object literal in one field order (not a spread): every state has the same shape.
  const c: SessionState = {
    role: s.role,
    sessionId: s.sessionId,
    initiatorSignPk: s.initiatorSignPk,
    initiatorBoxPk: s.initiatorBoxPk,
    responderSignPk: s.responderSignPk,
    responderBoxPk: s.responderBoxPk,
    created: s.created,
    rk: copy(s.rk),
    dhsSk: copy(s.dhsSk),
    dhsPk: copy(s.dhsPk),
    ns: s.ns,
    nr: s.nr,
    pn: s.pn,
    retired: s.retired.slice(),
    skipped: s.skipped.length === 0 ? [] : s.skipped.map((k) => ({ dhPk: k.dhPk, n: k.n, at: k.at, mk: copy(k.mk) })),
  };
  if (s.dhr) c.dhr = copy(s.dhr);
  if (s.cks) c.cks = copy(s.cks);
  if (s.ckr) c.ckr = copy(s.ckr);
  if (s.pendingInit) c.pendingInit = s.pendingInit;
  return c;
}

/**
 * Overwrites the secrets of a state the caller no longer keeps, except the arrays `next` (the
 * state that replaced it, still kept) holds too: a ratchet step's result shares what it did
 * not change with its input (see stepOf), so wiping the input in full would wipe its
 * successor's root key. With `next` undefined every secret of `old` is wiped: only for a state
 * no kept state was made from.
 */
export function wipeReplaced(old: SessionState, next: SessionState | undefined): void {
  const kept = (a: Uint8Array | undefined): boolean => a !== undefined && next !== undefined && (a === next.rk || a === next.dhsSk || a === next.cks || a === next.ckr);
  for (const a of [old.rk, old.dhsSk, old.cks, old.ckr]) if (!kept(a)) wipe(a);
  if (old.skipped.length === 0 || old.skipped === next?.skipped) return;
  const keptMk = new Set(next?.skipped.map((k) => k.mk));
  for (const k of old.skipped) if (!keptMk.has(k.mk)) wipe(k.mk);
}

/**
 * The state a ratchet step returns, before the step changes it: a new object holding the
 * input's own arrays (nothing copied; copy-on-write). A step replaces a field with an array of
 * its own and never writes into one it did not make: `own` has a bit per field already
 * replaced, so that the step wipes its own intermediate keys but never the input's (which
 * stay the input's: a step that throws leaves its input exactly as it was, and the old code,
 * which copied first, left them there too).
 */
export const OWN_RK = 1;
export const OWN_DHS = 2;
export const OWN_CKS = 4;
export const OWN_CKR = 8;
export const OWN_SKIPPED = 16;
export const OWN_RETIRED = 32;
export interface Step {
  s: SessionState;
  own: number;
}

export function stepOf(state: SessionState): Step {
  // One object literal in one field order (not a spread): every state has the same shape.
  const s: SessionState = {
    role: state.role,
    sessionId: state.sessionId,
    initiatorSignPk: state.initiatorSignPk,
    initiatorBoxPk: state.initiatorBoxPk,
    responderSignPk: state.responderSignPk,
    responderBoxPk: state.responderBoxPk,
    created: state.created,
    rk: state.rk,
    dhsSk: state.dhsSk,
    dhsPk: state.dhsPk,
    ns: state.ns,
    nr: state.nr,
    pn: state.pn,
    retired: state.retired,
    skipped: state.skipped,
  };
  if (state.dhr) s.dhr = state.dhr;
  if (state.cks) s.cks = state.cks;
  if (state.ckr) s.ckr = state.ckr;
  if (state.pendingInit) s.pendingInit = state.pendingInit;
  return { s, own: 0 };
}

/** Sets a secret field of the step's state; the value it replaces is wiped when the step made it. */
export function replaceSecret(st: Step, field: 'rk' | 'dhsSk' | 'cks' | 'ckr', bit: number, v: Uint8Array): void {
  if (st.own & bit) wipe(st.s[field]);
  st.s[field] = v;
  st.own |= bit;
}

/** The step's skipped keys, copied (each key too) before the first change: the input's stay whole. */
export function ownSkipped(st: Step): SkippedKey[] {
  if (!(st.own & OWN_SKIPPED)) {
    st.s.skipped = st.s.skipped.map((k) => ({ dhPk: k.dhPk, n: k.n, at: k.at, mk: copy(k.mk) }));
    st.own |= OWN_SKIPPED;
  }
  return st.s.skipped;
}
