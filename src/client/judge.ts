/**
 * The receive path's judgement of one envelope (docs/PROTOCOL.md §5.3, §9.10, docs/SECURITY.md
 * "What unauthenticated input may change"): it is opened, AUTHENTICATED, and only then allowed
 * to change anything. The rule, in order:
 *
 * 1. The outer layer opens (else TAMPERED / UNSUPPORTED_VERSION).
 * 2. The inner layer names a sender key. It is only a CLAIM. The key's box key is found without
 *    writing anything: the pinned contact with that key, a contact's pending (changed) key, or the
 *    relay's signed bundle for the key (a read-only lookup).
 * 3. The inner box must open with that box key (a static-static DH only the key's owner and we
 *    can compute). If it does not: TAMPERED, quarantined with the claimed key, and NOTHING else
 *    happens: no pin, no key change, no receipt applied, no typing shown.
 * 4. Authenticated mail from a pinned key is delivered (even while a new key waits for the
 *    user: the pinned key is still the trusted one). Authenticated mail from a pending key or a
 *    refused key is quarantined (KEY_CHANGED / REJECTED_KEY). Authenticated mail from a key the
 *    relay names: the first message pins it (TOFU) — as a new contact, or as a separate
 *    identity `name@host:port` when the name is pinned from ANOTHER relay; when the name is
 *    pinned from THIS relay with another key, that is the one real "key changed" signal: it is
 *    recorded as pending (the pinned key stays, verified or not) and the mail is quarantined.
 *    Receipts and typing from a key that is not a contact change nothing.
 *
 * v2 mail is judged the same way with its session as the authenticator (judgeV2), and v1 mail
 * from a contact that has written to us in v2 is a DOWNGRADE (judge). The Judge only reads the
 * store (plus the batch's working copy of the sessions); src/client/inbound.ts stores what it
 * decides, in one transaction.
 */
import { DataError, isHushError } from '../errors.js';
import type { Bundle } from '../protocol/bundle.js';
import { bytesEqual, toB64, toHex } from '../protocol/encoding.js';
import { verifyBundle } from '../crypto/bundle.js';
import type { Identity } from '../crypto/identity.js';
import { type Opened, openInner, openOuter, type OuterOpened, type Peer } from '../crypto/seal.js';
import { type Contact, type HushStore } from '../store/db.js';
import { openEnvelopeV2 } from '../crypto/envelope-v2.js';
import { innerSender } from '../crypto/session.js';
import { ENVELOPE_V2_VERSION } from '../protocol/session-wire.js';
import { isDuplicate, type SessionBook } from './sessions.js';
import type { InboundItem, ProcessOptions, QuarantineReason } from './inbound.js';

export type Verdict =
  | { t: 'msg'; eid: string; contact: Contact; opened: Opened }
  | { t: 'control'; eid: string; contact: Contact; opened: Opened }
  | { t: 'ignored'; eid: string }
  /** A v2 message whose key was already used (a replay or re-delivery): dropped, acked. */
  | { t: 'duplicate'; eid: string }
  | { t: 'quarantine'; eid: string; env: Uint8Array; reason: QuarantineReason; claimed?: Uint8Array; authenticated: boolean; claimedName?: string; group?: string };

/** What a claimed sender key resolves to, found without writing anything. */
type Candidate =
  | { k: 'self' }
  | { k: 'contact'; contact: Contact }
  | { k: 'pending'; contact: Contact; bundle: Bundle }
  | { k: 'rejected'; contact: Contact; bundle?: Bundle }
  | { k: 'stranger'; bundle: Bundle }
  | { k: 'unknown' };

export class Judge {
  private readonly bundles = new Map<string, Bundle | undefined>();
  private readonly candidates = new Map<string, Candidate>();

  constructor(
    private readonly store: HushStore,
    private readonly me: Identity,
    private readonly o: ProcessOptions,
    /** The batch's v2 sessions, committed with its messages (src/client/sessions.ts). */
    readonly book: SessionBook,
  ) {}

  private async bundleOf(signPk: Uint8Array): Promise<Bundle | undefined> {
    if (!this.o.lookup) return undefined;
    const k = toB64(signPk);
    if (this.bundles.has(k)) return this.bundles.get(k);
    let b = await this.o.lookup(signPk);
    if (b && !bytesEqual(b.signPk, signPk)) b = undefined;
    if (b) {
      try {
        verifyBundle(b);
      } catch {
        b = undefined;
      }
    }
    this.bundles.set(k, b);
    return b;
  }

  private async candidate(claimed: Uint8Array): Promise<Candidate> {
    const key = toHex(claimed);
    const memo = this.candidates.get(key);
    if (memo) return memo;
    let c: Candidate;
    if (bytesEqual(claimed, this.me.signPk)) c = { k: 'self' };
    else {
      const known = this.store.findContactBySignPk(claimed);
      const pending = known ? undefined : this.store.findContactByPendingSignPk(claimed);
      const refused = known || pending ? undefined : this.store.listContacts().find((x) => x.rejected?.some((r) => bytesEqual(r, claimed)));
      if (known) c = { k: 'contact', contact: known };
      else if (pending) c = { k: 'pending', contact: pending, bundle: pending.pendingBundle! };
      else {
        const b = await this.bundleOf(claimed);
        if (refused) c = b ? { k: 'rejected', contact: refused, bundle: b } : { k: 'rejected', contact: refused };
        else c = b ? { k: 'stranger', bundle: b } : { k: 'unknown' };
      }
    }
    this.candidates.set(key, c);
    return c;
  }

  async judge(item: InboundItem): Promise<Verdict> {
    const q = (reason: QuarantineReason, claimed?: Uint8Array, authenticated = false, claimedName?: string): Verdict => ({
      t: 'quarantine',
      eid: item.eid,
      env: item.env,
      reason,
      authenticated,
      ...(claimed ? { claimed } : {}),
      ...(claimedName === undefined ? {} : { claimedName }),
    });
    if (item.env[0] === ENVELOPE_V2_VERSION) return this.judgeV2(item, q);
    let outer: OuterOpened;
    try {
      outer = openOuter(this.me, item.env);
    } catch (e) {
      return q(isHushError(e) && e.code === 'UNSUPPORTED_VERSION' ? 'UNSUPPORTED_VERSION' : 'TAMPERED');
    }
    const claimed = new Uint8Array(outer.senderSignPk);
    const c = await this.candidate(claimed);
    const open = (peer: Peer): Opened | undefined => {
      try {
        return openInner(this.me, outer, peer, this.o.cache);
      } catch {
        return undefined;
      }
    };
    switch (c.k) {
      case 'unknown':
        return q('UNKNOWN_SENDER', claimed);
      case 'self':
        return open(this.me) ? q('FROM_SELF', claimed, true) : q('TAMPERED', claimed);
      case 'contact': {
        const opened = open(c.contact);
        if (!opened) return q('TAMPERED', claimed);
        if (this.o.requireForwardSecrecy) return q('NO_FORWARD_SECRECY', claimed, true, c.contact.label);
        // v1 from a contact that has sent us v2: a v2 sender with a session never seals v1, and
        // v1's inner box opens with OUR box key as well as the sender's, so a copy of our
        // keyring could have made it (key-compromise impersonation, docs/SECURITY.md).
        // Not authenticated as the contact, then: kept, never shown.
        if (this.book.heardV2From(c.contact)) {
          // A receipt, typing hint or token of ours can still arrive late in v1 (sealed before
          // the session, sent after it: v1DueNow makes that rare): dropped quietly, changing nothing.
          return opened.kind === 'msg' || opened.kind === 'group' ? q('DOWNGRADE', claimed, false, c.contact.label) : { t: 'ignored', eid: item.eid };
        }
        return { t: opened.kind === 'msg' ? 'msg' : 'control', eid: item.eid, contact: c.contact, opened };
      }
      case 'pending':
        return open(c.bundle) ? q('KEY_CHANGED', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'rejected':
        return c.bundle && open(c.bundle) ? q('REJECTED_KEY', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'stranger': {
        const opened = open(c.bundle);
        if (!opened) return q('TAMPERED', claimed);
        // Authenticated. Control mail from a stranger changes nothing (a group message may
        // pin it like a message: its group membership is judged next, §10.3).
        if (opened.kind !== 'msg' && opened.kind !== 'group') return { t: 'ignored', eid: item.eid };
        if (this.o.requireForwardSecrecy) return q('NO_FORWARD_SECRECY', claimed, true, c.bundle.name); // not pinned either
        return this.firstContact(item, c.bundle, claimed, opened, q);
      }
    }
  }

  /**
   * A v2 envelope: the same rule as v1, with the session as the authenticator. A message from
   * a contact opens in a session held with it (a prekey message may start one); from a key the
   * relay names, only a prekey message can authenticate, and its session is kept only once the
   * key is pinned. A message key already used (a replay, even into a wiped history) is a
   * duplicate: dropped, never shown.
   */
  private async judgeV2(item: InboundItem, q: (r: QuarantineReason, k?: Uint8Array, a?: boolean, n?: string) => Verdict): Promise<Verdict> {
    let inner: Uint8Array;
    let claimed: Uint8Array;
    try {
      // Opened ahead on the pull's second thread (src/client/outer-open.ts), or here.
      if (item.outer === 'TAMPERED') return q('TAMPERED');
      inner = item.outer instanceof Uint8Array ? item.outer : openEnvelopeV2(this.me.boxSk, item.env);
      claimed = new Uint8Array(innerSender(inner));
    } catch (e) {
      return q(isHushError(e) && e.code === 'UNSUPPORTED_VERSION' ? 'UNSUPPORTED_VERSION' : 'TAMPERED');
    }
    const c = await this.candidate(claimed);
    const verdict = (contact: Contact, opened: Opened): Verdict => ({ t: opened.kind === 'msg' ? 'msg' : 'control', eid: item.eid, contact, opened });
    // A gap beyond max-skip is refused before authenticating (the header is not yet trusted):
    // kept with its reason, no state changed; the session opens the next message within the cap.
    // A prekey message naming a prekey this home no longer holds (its signed prekey replaced
    // longer than the grace period ago, or a one-time prekey trimmed; a replay of a session
    // already started is caught before, as a duplicate) is kept as PREKEY_EXPIRED: the sender
    // learns nothing, so the user must be told, not the message dropped. It names no contact:
    // nothing about it is authenticated (prekey ids are small counters anyone can guess).
    const failed = (e: unknown): Verdict => {
      if (isDuplicate(e)) return { t: 'duplicate', eid: item.eid };
      const code = e instanceof DataError ? e.code : '';
      if (code === 'PREKEY_EXPIRED' || code === 'PREKEY_NOT_FOUND') return q('PREKEY_EXPIRED', claimed);
      return q(code === 'TOO_MANY_SKIPPED' ? 'TOO_MANY_SKIPPED' : 'TAMPERED', claimed);
    };
    const detached = (peer: { signPk: Uint8Array; boxPk: Uint8Array }): ReturnType<SessionBook['openDetached']> | undefined => {
      try {
        return this.book.openDetached(peer, inner);
      } catch {
        return undefined;
      }
    };
    switch (c.k) {
      case 'unknown':
        return q('UNKNOWN_SENDER', claimed);
      case 'self':
        return q('TAMPERED', claimed); // we never hold a session with ourselves
      case 'contact':
        try {
          return verdict(c.contact, this.book.open(c.contact, inner, item.ahead));
        } catch (e) {
          return failed(e);
        }
      case 'pending':
        return detached(c.bundle) ? q('KEY_CHANGED', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'rejected':
        return c.bundle && detached(c.bundle) ? q('REJECTED_KEY', claimed, true, c.contact.label) : q('TAMPERED', claimed);
      case 'stranger': {
        const d = detached(c.bundle);
        if (!d) return q('TAMPERED', claimed);
        if (d.opened.kind !== 'msg' && d.opened.kind !== 'group') return { t: 'ignored', eid: item.eid };
        const v = this.firstContact(item, c.bundle, claimed, d.opened, q);
        if (v.t === 'msg' || v.t === 'control') d.adopt(v.contact);
        return v;
      }
    }
  }

  /** An authenticated first message from a key the relay names: pin it, or record a key change. */
  private firstContact(
    item: { eid: string },
    bundle: Bundle,
    claimed: Uint8Array,
    opened: Opened,
    q: (r: QuarantineReason, k?: Uint8Array, a?: boolean, n?: string) => Verdict,
  ): Verdict {
    // Someone else's key named like us is labelled name@host: never shown as our own name.
    const r = this.store.pinContact(bundle, undefined, this.o.relay, [this.o.myName]);
    const memoKey = toHex(claimed);
    if (r.status === 'changed') {
      // The name is pinned from this relay with another key: the real key-changed signal.
      const changed = this.store.recordKeyChange(r.contact.id, bundle);
      this.candidates.set(memoKey, { k: 'pending', contact: changed, bundle });
      return q('KEY_CHANGED', claimed, true, changed.label);
    }
    if (r.status === 'new') this.o.onPinned?.(r.contact);
    this.candidates.set(memoKey, { k: 'contact', contact: r.contact });
    return { t: opened.kind === 'msg' ? 'msg' : 'control', eid: item.eid, contact: r.contact, opened };
  }
}
