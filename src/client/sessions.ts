/**
 * The v2 session layer of the client (docs/PROTOCOL.md §9, §9.10): finds or starts the session
 * with a contact, seals payloads in it, opens received v2 messages against the sessions held,
 * and converges simultaneous starts. The crypto is src/crypto/session.ts (pure); this module
 * adds the store: every state it changes is written in the caller's store transaction.
 *
 * - Sending (`sealFor`): the sending session is `converge(...)` over the sessions held with the
 *   contact's CURRENT keys that can send; its advanced state is written in the same transaction
 *   as the outbox entry, before the envelope leaves. No session: v1 (src/crypto/seal.ts).
 * - Receiving (`SessionBook`): a batch opens its v2 messages against a working copy of the
 *   sessions and prekeys; `commit()` (inside the batch's transaction, with the messages) writes
 *   the new states and deletes the one-time prekeys consumed. A failure leaves everything as it
 *   was: nothing that did not authenticate changes any state.
 */
import { DataError, RelayError } from '../errors.js';
import { bytesEqual, toHex } from '../protocol/encoding.js';
import type { PrekeyBundle } from '../protocol/prekey-bundle.js';
import type { Kind } from '../protocol/envelope.js';
import type { SessionState } from '../protocol/session-state.js';
import { parseInnerV2, parsePayloadV2, type PayloadV2 } from '../protocol/session-wire.js';
import { type Random, wipe } from '../crypto/nacl.js';
import type { BoxKeys, PrekeyLookup, PublicKeys, UsedPrekeys } from '../crypto/pqxdh.js';
import { converge, DEFAULT_OPEN_LIMITS, type OpenLimits, openMessage, sealMessageEnvelope, startSession } from '../crypto/session.js';
import { capSkippedTotal, wipeReplaced } from '../crypto/ratchet.js';
import { sealEnvelope, type SharedKeyCache } from '../crypto/seal.js';
import type { Contact, HushStore } from '../store/db.js';
import type { StoredSession } from '../store/db-sessions.js';
import { type AheadOpened, takeAhead } from './ahead-ratchet.js';

/** What a sealed payload carries (v1 and v2 alike). */
export interface OutgoingPayload {
  kind: Kind;
  id: Uint8Array;
  time: number;
  body: Uint8Array;
}

/** Most sessions kept per contact (the oldest receive-only ones are dropped beyond). */
export const MAX_SESSIONS_PER_CONTACT = 4;

/**
 * The kv key listing the responder sessions started on signed prekey `spkId` (hex session
 * ids, comma-separated; deleted with the signed prekey, src/client/prekeys.ts): a replay of a
 * first message is a duplicate even once its session was dropped, whether or not a one-time
 * prekey marks it used, so a one-time prekey that is gone (trimmed) means a late message to
 * keep, not a replay to drop (docs/PROTOCOL.md §9.10 "Receiving").
 */
export const startedKey = (spkId: number): string => `v2.started.${spkId}`;
/** Session ids kept per signed prekey at most (the oldest dropped beyond). */
export const MAX_STARTED_PER_SPK = 10_000;

/** Is `s` a session between us and exactly these peer keys? */
export function sessionWith(s: SessionState, me: PublicKeys, peer: PublicKeys): boolean {
  const [mine, theirs] =
    s.role === 'initiator'
      ? [
          [s.initiatorSignPk, s.initiatorBoxPk],
          [s.responderSignPk, s.responderBoxPk],
        ]
      : [
          [s.responderSignPk, s.responderBoxPk],
          [s.initiatorSignPk, s.initiatorBoxPk],
        ];
  return bytesEqual(mine[0]!, me.signPk) && bytesEqual(mine[1]!, me.boxPk) && bytesEqual(theirs[0]!, peer.signPk) && bytesEqual(theirs[1]!, peer.boxPk);
}

/** The sessions held with the contact's current keys (sessions with older keys never count). */
export function sessionsFor(store: HushStore, me: PublicKeys, contact: Contact): StoredSession[] {
  return store.v2.sessionsOf(contact.id).filter((s) => sessionWith(s.state, me, contact));
}

/** The session both sides send on (§9.6), among those that can send; undefined when none can. */
export function sendingSession(list: readonly StoredSession[]): StoredSession | undefined {
  const ready = list.filter((s) => s.state.cks !== undefined);
  if (ready.length === 0) return undefined;
  const { active } = converge(ready.map((s) => s.state));
  return ready.find((s) => s.state === active);
}

/** Can we send to `contact` in a v2 session now? */
export function hasSendingSession(store: HushStore, me: PublicKeys, contact: Contact): boolean {
  return sendingSession(sessionsFor(store, me, contact)) !== undefined;
}

/**
 * Starts a session with `contact` from its fetched bundle (verified against the pinned keys
 * first: PREKEY_IDENTITY_MISMATCH, BAD_PREKEY_SIGNATURE, PREKEY_EXPIRED) and stores it.
 */
export function startSessionWith(store: HushStore, identity: BoxKeys, contact: Contact, bundle: PrekeyBundle, now: number, random: Random): void {
  const state = startSession(identity, contact, bundle, now, random);
  store.transaction(() => {
    store.v2.saveSession(contact.id, state, now);
    store.v1DueNow(contact.id, now); // they leave before what this session seals
    prune(store, identity, contact);
  });
}

/** Drops the oldest sessions beyond MAX_SESSIONS_PER_CONTACT, never the sending one. */
function prune(store: HushStore, me: PublicKeys, contact: Contact): void {
  const all = store.v2.sessionsOf(contact.id);
  if (all.length <= MAX_SESSIONS_PER_CONTACT) return;
  const keep = sendingSession(sessionsFor(store, me, contact));
  const victims = all.filter((s) => s !== keep).sort((a, b) => a.updatedAt - b.updatedAt || a.row - b.row);
  for (const s of victims.slice(0, all.length - MAX_SESSIONS_PER_CONTACT)) store.v2.deleteSession(s.row);
}

export interface SealOptions {
  store: HushStore;
  identity: BoxKeys;
  random: Random;
  now: () => number;
  cache?: SharedKeyCache;
}

/**
 * Seals one payload to `contact`: in its v2 sending session when there is one (the advanced
 * state is written in this transaction, or the caller's), else as v1. Returns the envelope
 * and which protocol sealed it.
 */
export function sealFor(o: SealOptions, contact: Contact, p: OutgoingPayload): { envelope: Uint8Array; v2: boolean } {
  const r = sealManyFor(o, contact, [p]);
  return { envelope: r.envelopes[0]!, v2: r.v2 };
}

/**
 * Seals payloads to `contact`, in order, as sealFor would one by one, but reads the sending
 * session and the sender's `seq` (§9.5: 1, 2, 3, ... across sessions, kept under
 * `v2.seq.<contact id>`) once and writes them once, with the state after the last payload,
 * in this transaction (or the caller's: the outbox entries commit with it, before any
 * envelope leaves, so no message key is ever used twice). The states in between are wiped.
 */
export function sealManyFor(o: SealOptions, contact: Contact, ps: readonly OutgoingPayload[]): { envelopes: Uint8Array[]; v2: boolean } {
  return o.store.transaction(() => {
    const s = sendingSession(sessionsFor(o.store, o.identity, contact));
    if (!s) return { envelopes: ps.map((p) => sealEnvelope(o.identity, contact, p, o.random, o.cache)), v2: false };
    if (ps.length === 0) return { envelopes: [], v2: true };
    const seqKey = `v2.seq.${contact.id}`;
    let seq = Number(o.store.getValue(seqKey) ?? '0');
    let state = s.state;
    const envelopes = ps.map((p) => {
      const r = sealMessageEnvelope(state, { kind: p.kind, id: p.id, time: p.time, seq: ++seq, body: p.body }, contact.boxPk, o.random);
      if (state !== s.state) wipeReplaced(state, r.state); // not what r.state shares with it
      state = r.state;
      return r.envelope;
    });
    o.store.setValue(seqKey, String(seq));
    o.store.v2.saveSession(contact.id, state, o.now(), s.row, s.rev);
    return { envelopes, v2: true };
  });
}

/** A v2 message opened in a batch (not yet committed). */
export interface OpenedV2 {
  kind: Kind;
  id: Uint8Array;
  time: number;
  seq: number;
  body: Uint8Array;
  senderSignPk: Uint8Array;
}

interface Working {
  row?: number;
  rev?: number;
  state: SessionState;
  dirty: boolean;
  /** Skipped keys the state held when loaded (0 for a new session): more now means new ones stored. */
  base: number;
}

/**
 * The sessions and prekeys of one received batch, in memory until `commit()`. Opening a
 * message changes only this working copy; the caller commits it in the batch's transaction.
 */
export class SessionBook {
  private readonly byContact = new Map<number, Working[]>();
  private readonly usedOpk = new Set<number>();
  private readonly usedKem = new Set<number>();
  /** Responder sessions this batch started: spkId -> hex session ids (written at commit). */
  private readonly started = new Map<number, string[]>();
  /** The stored record of each signed prekey looked at (kv startedKey), read once per batch. */
  private readonly startedHeld = new Map<number, Set<string>>();
  private readonly lookup: PrekeyLookup;

  constructor(
    private readonly store: HushStore,
    private readonly identity: BoxKeys,
    private readonly now: () => number,
    private readonly random: Random,
    private readonly limits: OpenLimits = DEFAULT_OPEN_LIMITS,
  ) {
    const v2 = store.v2;
    this.lookup = {
      spk: (id) => v2.signedPrekey(id),
      // Ids count up and the oldest go first: below the oldest held, it was ours and is deleted.
      spkDeleted: (id) => {
        const held = v2.signedPrekeys().map((s) => s.id);
        return held.length > 0 && id >= 1 && id < Math.min(...held);
      },
      sessionStarted: (spkId, sessionId) => {
        const hex = toHex(sessionId);
        return this.started.get(spkId)?.includes(hex) === true || this.heldStarted(spkId).has(hex);
      },
      kem: (id) => (this.usedKem.has(id) ? undefined : v2.kemPrekey(id)),
      opk: (id) => (this.usedOpk.has(id) ? undefined : v2.oneTimePrekey(id)),
    };
  }

  private working(contact: Contact): Working[] {
    let w = this.byContact.get(contact.id);
    if (!w) {
      w = sessionsFor(this.store, this.identity, contact).map((s) => ({ row: s.row, rev: s.rev, state: s.state, dirty: false, base: s.state.skipped.length }));
      this.byContact.set(contact.id, w);
    }
    return w;
  }

  /**
   * Opens an inner v2 from a contact with the sessions held (and this batch's changes).
   * Throws (DataError TAMPERED, DUPLICATE_MESSAGE, PREKEY_NOT_FOUND, ...) without changing anything.
   */
  open(contact: Contact, inner: Uint8Array, ahead?: AheadOpened): OpenedV2 {
    const w = this.working(contact);
    if (ahead) {
      const done = this.openAhead(w, contact, inner, ahead);
      if (done) return done;
    }
    const r = openMessage(
      this.identity,
      contact,
      inner,
      w.map((x) => x.state),
      this.lookup,
      this.now(),
      this.random,
      this.limits,
    );
    if (r.index >= 0) {
      w[r.index]!.state = r.state;
      w[r.index]!.dirty = true;
    } else w.push({ state: r.state, dirty: true, base: 0 });
    this.consume(r.used, r.state.sessionId);
    return { ...r.payload, senderSignPk: contact.signPk };
  }

  /**
   * The message opened ahead on the pull's second thread, when that answer is exactly the step
   * the session it names takes now (src/client/ahead-ratchet.ts); undefined: open it here.
   */
  private openAhead(w: Working[], contact: Contact, innerBytes: Uint8Array, ahead: AheadOpened): OpenedV2 | undefined {
    const x = w.find((e) => e.row === ahead.row);
    if (!x) return undefined;
    const inner = parseInnerV2(innerBytes);
    if (!bytesEqual(inner.senderSignPk, contact.signPk)) return undefined;
    const r = takeAhead(x.state, inner, ahead, this.now(), this.limits);
    // An answer is looked at once (a batch opened again after a race opens it here).
    wipe(ahead.ckBefore, ahead.ckAfter);
    if (!r) {
      wipe(ahead.plaintext);
      return undefined;
    }
    let payload: PayloadV2;
    try {
      payload = parsePayloadV2(r.plaintext);
    } catch {
      wipeReplaced(r.state, x.state); // only its own chain key: the rest is x.state's
      return undefined; // authentic but not a payload: openMessage says so
    } finally {
      wipe(r.plaintext);
    }
    x.state = r.state;
    x.dirty = true;
    return { ...payload, senderSignPk: contact.signPk };
  }

  /**
   * Opens a prekey message from keys that are not a contact yet (a stranger the relay names,
   * or a pending key): nothing is kept unless `adopt` is called with the contact it pinned.
   */
  openDetached(peer: PublicKeys, inner: Uint8Array): { opened: OpenedV2; adopt: (contact: Contact) => void } {
    const r = openMessage(this.identity, peer, inner, [], this.lookup, this.now(), this.random, this.limits);
    return {
      opened: { ...r.payload, senderSignPk: peer.signPk },
      adopt: (contact) => {
        this.working(contact).push({ state: r.state, dirty: true, base: 0 });
        this.consume(r.used, r.state.sessionId);
      },
    };
  }

  /**
   * Has `contact` sent us v2 in a session we still hold with its current keys (a session it
   * started, or one of ours it answered)? Then v1 mail claiming to be from it is a downgrade
   * (src/client/judge.ts `DOWNGRADE`): a v2 sender with a session never seals v1 to us.
   */
  heardV2From(contact: Contact): boolean {
    return this.working(contact).some((w) => w.state.role === 'responder' || w.state.pendingInit === undefined);
  }

  /** The session ids stored under startedKey(spkId), oldest first. */
  private heldStarted(spkId: number): Set<string> {
    let held = this.startedHeld.get(spkId);
    if (!held) {
      held = new Set((this.store.getValue(startedKey(spkId)) ?? '').split(',').filter((x) => x !== ''));
      this.startedHeld.set(spkId, held);
    }
    return held;
  }

  private consume(used: UsedPrekeys | undefined, sessionId: Uint8Array): void {
    if (!used) return;
    const list = this.started.get(used.spkId) ?? [];
    list.push(toHex(sessionId));
    this.started.set(used.spkId, list);
    if (used.opkId !== undefined) this.usedOpk.add(used.opkId);
    if (used.kemKind === 'one-time') this.usedKem.add(used.kemId);
  }

  /**
   * The device-wide cap on stored skipped keys (§9.8, `--ratchet-limits total=`): when this
   * batch stored new skipped keys, every session of the device is read and the oldest keys
   * over the cap (and any past their age) are evicted, in the batch's transaction.
   */
  private capDevice(all: { contactId: number; w: Working }[], now: number): void {
    if (!all.some((x) => x.w.state.skipped.length > x.w.base)) return;
    const inBatch = new Set(all.map((x) => x.w.row).filter((r) => r !== undefined));
    const others = this.store.v2.allSessions().filter((s) => !inBatch.has(s.row));
    const capped = capSkippedTotal([...all.map((x) => x.w.state), ...others.map((s) => s.state)], this.limits.maxSkippedTotal, now - this.limits.skippedMaxAgeMs);
    all.forEach((x, i) => {
      if (capped[i]!.skipped.length !== x.w.state.skipped.length) {
        x.w.state = capped[i]!;
        x.w.dirty = true;
      }
    });
    others.forEach((s, j) => {
      const c = capped[all.length + j]!;
      if (c.skipped.length !== s.state.skipped.length) this.store.v2.saveSession(s.contactId, c, now, s.row, s.rev);
    });
  }

  /** True when anything must be written. */
  get dirty(): boolean {
    if (this.usedOpk.size > 0 || this.usedKem.size > 0 || this.started.size > 0) return true;
    for (const w of this.byContact.values()) if (w.some((x) => x.dirty)) return true;
    return false;
  }

  /**
   * Writes the new states and deletes the consumed one-time prekeys. Call inside the batch's
   * store transaction (with the messages): InternalError SESSION_RACE when another process
   * changed a session meanwhile (the transaction rolls back; the batch is not acked).
   */
  commit(): void {
    const now = this.now();
    const all: { contactId: number; w: Working }[] = [];
    for (const [contactId, list] of this.byContact) for (const w of list) all.push({ contactId, w });
    this.capDevice(all, now);
    for (const { contactId, w } of all) {
      if (!w.dirty) continue;
      const row = this.store.v2.saveSession(contactId, w.state, now, w.row, w.rev);
      if (w.row === undefined) {
        w.row = row;
        w.rev = 0;
        this.store.v1DueNow(contactId, now); // a new session: our waiting v1 leaves before its v2
      } else w.rev = (w.rev ?? 0) + 1;
      w.dirty = false;
    }
    for (const id of this.usedOpk) this.store.v2.deletePrekey('opk', id);
    for (const id of this.usedKem) this.store.v2.deletePrekey('kem', id);
    for (const [spkId, ids] of this.started) {
      this.store.setValue(startedKey(spkId), [...this.heldStarted(spkId), ...ids].slice(-MAX_STARTED_PER_SPK).join(','));
    }
    this.usedOpk.clear();
    this.usedKem.clear();
    this.started.clear();
    this.startedHeld.clear(); // written: read again on next use
    for (const contactId of this.byContact.keys()) {
      const c = this.store.getContact(contactId);
      if (c) prune(this.store, this.identity, c);
    }
    // Rows may have been pruned: reload on next use.
    this.byContact.clear();
  }
}

/** A message already opened (its key used, or a first message of a session already started): dropped, acked. */
export function isDuplicate(e: unknown): boolean {
  return e instanceof DataError && e.code === 'DUPLICATE_MESSAGE';
}

/** Why a send to a contact is v1, when it is. */
export type V1Reason = 'no-prekeys' | 'expired-prekeys';

/**
 * Finds or starts the v2 session to send to `contact` on: a session held is used as is (no
 * relay call); otherwise the contact's bundle is fetched once and a session started. Returns
 * `{ v2: false, reason }` when the contact has published no usable prekeys (send v1). A
 * bundle that is not the pinned contact's, or badly signed, is a TrustError (never v1 instead:
 * that is what an attacker on the relay would want).
 */
export async function ensureSession(
  o: { store: HushStore; identity: BoxKeys; now: () => number; random: Random },
  contact: Contact,
  relay: () => Promise<BundleFetcher>,
): Promise<{ v2: true } | { v2: false; reason: V1Reason }> {
  if (hasSendingSession(o.store, o.identity, contact)) return { v2: true };
  let bundle: PrekeyBundle | null;
  try {
    // null: no prekeys published, or a relay that predates them.
    bundle = await (await relay()).fetchBundle(contact.signPk);
  } catch (e) {
    if (e instanceof RelayError && e.code === 'NOT_FOUND') return { v2: false, reason: 'no-prekeys' };
    throw e;
  }
  if (!bundle) return { v2: false, reason: 'no-prekeys' };
  try {
    startSessionWith(o.store, o.identity, contact, bundle, o.now(), o.random);
  } catch (e) {
    if (e instanceof DataError && e.code === 'PREKEY_EXPIRED') return { v2: false, reason: 'expired-prekeys' };
    throw e;
  }
  return { v2: true };
}

/** The relay call ensureSession needs (src/client/relay-client.ts). */
export interface BundleFetcher {
  fetchBundle(signPk: Uint8Array): Promise<PrekeyBundle | null>;
}
