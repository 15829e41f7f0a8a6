/**
 * A v2 session (PQXDH + Double Ratchet) as data, and its byte-exact serialisation
 * (docs/PROTOCOL.md §9.7). The bytes hold secrets: the store must seal them before they touch
 * a disk. This module only lays them out and validates them; the ratchet is src/crypto/ratchet.ts.
 *
 *   state = 0x01 || role u8 (1 initiator, 2 responder) || sessionId[16]
 *           || initiatorSignPk[32] || initiatorBoxPk[32] || responderSignPk[32] || responderBoxPk[32]
 *           || u64be created || rk[32] || dhsSk[32] || dhsPk[32]
 *           || flags u8 (bit 0 dhr, bit 1 cks, bit 2 ckr, bit 3 pendingInit; others 0)
 *           || dhr[32] || cks[32] || ckr[32]            (all-zero when the flag is clear)
 *           || u32be ns || u32be nr || u32be pn
 *           || pendingInit[1134]                       (only when bit 3 is set)
 *           || u8 retiredCount || retiredCount x dhPk[32]
 *           || u32be skippedCount || skippedCount x (dhPk[32] || u32be n || u64be at || mk[32])
 */
import { DataError } from '../errors.js';
import { concatBytes, isAllZero, readU32be, readU64be, u32be, u64be } from './encoding.js';
import { INIT_HEADER_BYTES } from './session-wire.js';

export const SESSION_STATE_VERSION = 1;
export const SESSION_ID_BYTES = 16;
/** Hard ceiling on stored skipped keys a state file may hold (the per-session cap is lower). */
export const STATE_MAX_SKIPPED = 65536;
/** Receiving ratchet keys remembered after their chain ended, to name late duplicates. */
export const MAX_RETIRED_CHAINS = 8;

export type SessionRole = 'initiator' | 'responder';

export interface SkippedKey {
  dhPk: Uint8Array;
  n: number;
  /** When the key was stored (ms), for expiry by age. */
  at: number;
  mk: Uint8Array;
}

export interface SessionState {
  role: SessionRole;
  sessionId: Uint8Array;
  initiatorSignPk: Uint8Array;
  initiatorBoxPk: Uint8Array;
  responderSignPk: Uint8Array;
  responderBoxPk: Uint8Array;
  created: number;
  rk: Uint8Array;
  dhsSk: Uint8Array;
  dhsPk: Uint8Array;
  dhr?: Uint8Array;
  cks?: Uint8Array;
  ckr?: Uint8Array;
  ns: number;
  nr: number;
  pn: number;
  /** The initiator's PQXDH header, repeated in every message until a reply decrypts. */
  pendingInit?: Uint8Array;
  retired: Uint8Array[];
  skipped: SkippedKey[];
}

const Z32 = new Uint8Array(32);

export function encodeSessionState(s: SessionState): Uint8Array {
  const flags = (s.dhr ? 1 : 0) | (s.cks ? 2 : 0) | (s.ckr ? 4 : 0) | (s.pendingInit ? 8 : 0);
  if (s.retired.length > MAX_RETIRED_CHAINS || s.skipped.length > STATE_MAX_SKIPPED) throw new DataError('BAD_SESSION_STATE', 'session state has too many keys');
  const parts: Uint8Array[] = [
    Uint8Array.of(SESSION_STATE_VERSION, s.role === 'initiator' ? 1 : 2),
    s.sessionId,
    s.initiatorSignPk,
    s.initiatorBoxPk,
    s.responderSignPk,
    s.responderBoxPk,
    u64be(s.created),
    s.rk,
    s.dhsSk,
    s.dhsPk,
    Uint8Array.of(flags),
    s.dhr ?? Z32,
    s.cks ?? Z32,
    s.ckr ?? Z32,
    u32be(s.ns),
    u32be(s.nr),
    u32be(s.pn),
  ];
  if (s.pendingInit) parts.push(s.pendingInit);
  parts.push(Uint8Array.of(s.retired.length), ...s.retired, u32be(s.skipped.length));
  for (const k of s.skipped) parts.push(k.dhPk, u32be(k.n), u64be(k.at), k.mk);
  const out = concatBytes(...parts);
  parseSessionState(out); // never write what we would refuse to read
  return out;
}

const bad = (why: string): DataError =>
  new DataError('BAD_SESSION_STATE', `session state ${why}`, { hint: 'the local store may be damaged; start a new session with this contact' });

/** Parses and validates a serialised state (fresh copies of every field). */
export function parseSessionState(b: Uint8Array): SessionState {
  if (!(b instanceof Uint8Array) || b.length < 1) throw bad('is empty');
  if (b[0] !== SESSION_STATE_VERSION) throw new DataError('UNSUPPORTED_VERSION', `session state version ${b[0]} is not supported`, { hint: 'upgrade hush' });
  let o = 1;
  const need = (n: number): void => {
    if (o + n > b.length) throw bad('is truncated');
  };
  const take = (n: number): Uint8Array => {
    need(n);
    return b.slice(o, (o += n));
  };
  const u32 = (): number => {
    need(4);
    const v = readU32be(b, o);
    o += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    if (readU32be(b, o) >= 2 ** 21) throw bad('has an out-of-range time');
    const v = readU64be(b, o);
    o += 8;
    return v;
  };
  need(1);
  const roleByte = b[o++];
  if (roleByte !== 1 && roleByte !== 2) throw bad('has an unknown role');
  const sessionId = take(SESSION_ID_BYTES);
  const initiatorSignPk = take(32);
  const initiatorBoxPk = take(32);
  const responderSignPk = take(32);
  const responderBoxPk = take(32);
  const created = u64();
  const rk = take(32);
  const dhsSk = take(32);
  const dhsPk = take(32);
  need(1);
  const flags = b[o++]!;
  if (flags & ~0x0f) throw bad('has unknown flags');
  const dhr = take(32);
  const cks = take(32);
  const ckr = take(32);
  for (const [bit, v] of [
    [1, dhr],
    [2, cks],
    [4, ckr],
  ] as const) {
    if (!(flags & bit) && !isAllZero(v)) throw bad('has a key whose flag is clear');
  }
  const ns = u32();
  const nr = u32();
  const pn = u32();
  const s: SessionState = {
    role: roleByte === 1 ? 'initiator' : 'responder',
    sessionId,
    initiatorSignPk,
    initiatorBoxPk,
    responderSignPk,
    responderBoxPk,
    created,
    rk,
    dhsSk,
    dhsPk,
    ns,
    nr,
    pn,
    retired: [],
    skipped: [],
  };
  if (flags & 1) s.dhr = dhr;
  if (flags & 2) s.cks = cks;
  if (flags & 4) s.ckr = ckr;
  if (flags & 8) {
    if (s.role !== 'initiator') throw bad('has a pending init header on the responder side');
    s.pendingInit = take(INIT_HEADER_BYTES);
  }
  need(1);
  const nRetired = b[o++]!;
  if (nRetired > MAX_RETIRED_CHAINS) throw bad('has too many retired chains');
  for (let i = 0; i < nRetired; i++) s.retired.push(take(32));
  const nSkipped = u32();
  if (nSkipped > STATE_MAX_SKIPPED) throw bad('has too many skipped keys');
  for (let i = 0; i < nSkipped; i++) {
    const dhPk = take(32);
    const n = u32();
    const at = u64();
    s.skipped.push({ dhPk, n, at, mk: take(32) });
  }
  if (o !== b.length) throw bad('has trailing bytes');
  return s;
}
