/**
 * The pairwise side of group fan-out (src/client/groups.ts PairwiseSender) on a Messenger:
 * each member's copy is sealed by Messenger.seal, the same call a pairwise message uses (v2 in
 * the member's session when it has one or published prekeys, v1 otherwise), and every copy is
 * put in the outbox in ONE transaction with the group's local change, before any is sent. A
 * send killed mid fan-out leaves the rest in the outbox; the next send/pull/listen sends them,
 * with the same bytes (the relay drops a copy it already holds by its envelope id).
 */
import { RelayError, TrustError } from '../errors.js';
import { verifyBundle } from '../crypto/bundle.js';
import { fingerprint } from '../crypto/fingerprint.js';
import { randomBytes } from '../crypto/nacl.js';
import { bytesEqual } from '../protocol/encoding.js';
import { envelopeId } from '../protocol/envelope.js';
import type { GroupMember } from '../protocol/group-wire.js';
import type { PairwiseSender } from './groups.js';
import type { Messenger, QueuedMessage } from './messenger.js';
import type { Contact } from '../store/db.js';

export class MessengerGroupSender implements PairwiseSender {
  /** The copies queued by the last queue(), ready for a SendPipeline. */
  queued: QueuedMessage[] = [];

  constructor(private readonly m: Messenger) {}

  /**
   * A member's contact: pinned by key, else looked up on the relay BY KEY (never by name: the
   * member list names the key) and pinned when the relay's signed bundle has it. A name already
   * pinned to another key is left alone (no key change is recorded from a member list).
   */
  async contactFor(member: GroupMember): Promise<Contact | undefined> {
    const known = this.m.store.findContactBySignPk(member.signPk);
    if (known) return known;
    let bundle;
    try {
      bundle = await (await this.m.client()).lookup({ signPk: member.signPk });
    } catch (e) {
      if (e instanceof RelayError && e.code === 'NOT_FOUND') return undefined;
      throw e;
    }
    verifyBundle(bundle);
    if (!bytesEqual(bundle.signPk, member.signPk)) return undefined;
    try {
      const r = this.m.store.pinContact(bundle, undefined, this.m.relay, [this.m.name]);
      if (r.status === 'changed') return undefined;
      if (r.status === 'new') this.m.emit('pinned', { name: r.contact.label, fingerprint: fingerprint(r.contact.signPk) });
      return r.contact;
    } catch (e) {
      if (e instanceof TrustError) return undefined;
      throw e;
    }
  }

  async prepare(c: Contact): Promise<void> {
    await this.m.prepareSend(c);
  }

  async queue(contacts: readonly Contact[], body: Uint8Array, local: () => number | void): Promise<{ contact: Contact; msgId: Uint8Array }[]> {
    const now = Date.now();
    const out = this.m.store.transaction(() => {
      const postRow = local();
      return contacts.map((contact) => {
        const msgId = randomBytes(16);
        const envelope = this.m.seal(contact, { kind: 'group', id: msgId, time: now, body });
        const eid = envelopeId(envelope);
        this.m.store.enqueueOutbox({ eid, contactId: contact.id, envelope, msgId, createdAt: now });
        if (typeof postRow === 'number') this.m.store.groups.addCopy(postRow, contact.id, msgId); // its receipts (§10.6)
        return { contact, msgId, envelope, eid };
      });
    });
    this.queued = out.map((p) => ({
      eid: p.eid,
      envelope: p.envelope,
      msgId: p.msgId,
      contactId: p.contact.id,
      to: p.contact.label,
      toSignPk: p.contact.signPk,
      time: now,
      fromOutbox: false,
      control: true,
    }));
    return out.map(({ contact, msgId }) => ({ contact, msgId }));
  }
}
