/**
 * Re-opening the quarantine after a trust decision (`hush trust NAME`, docs/PROTOCOL.md §5.7,
 * §9.10 "Receiving"): what was kept because its key was new or refused opens once that key is
 * the pinned one; v1 mail from a contact that has written to us in v2 stays (DOWNGRADE).
 */
import { DataError } from '../errors.js';
import { toHex } from '../protocol/encoding.js';
import type { Identity } from '../crypto/identity.js';
import { randomBytes } from '../crypto/nacl.js';
import { type Opened, openInner, openOuter } from '../crypto/seal.js';
import { type Contact, type HushStore } from '../store/db.js';
import { openEnvelopeV2 } from '../crypto/envelope-v2.js';
import { DEFAULT_OPEN_LIMITS, type OpenLimits } from '../crypto/session.js';
import { ENVELOPE_V2_VERSION } from '../protocol/session-wire.js';
import { SessionBook } from './sessions.js';
import { bodyOf, bodyText, type ReceivedMessage } from './inbound.js';

/**
 * Re-opens the quarantined mail of `contact` (whose key the user just accepted or trusted,
 * e.g. by `hush trust NAME` after store.acceptNewKey). Entries are matched by the sender key
 * recorded at quarantine time; each one that now opens with the contact's PINNED keys is stored
 * as a received message and leaves the quarantine in the same transaction. Offline: no relay.
 * Returns the newly shown messages (in send order) and how many of the contact's entries stay.
 * `limits`: the bounds a receiving command would use (config ratchetLimits, the prekey grace).
 */
export function reprocessQuarantine(
  store: HushStore,
  identity: Identity,
  contact: Contact,
  myName = '',
  limits: OpenLimits = DEFAULT_OPEN_LIMITS,
): { opened: ReceivedMessage[]; remaining: number } {
  const current = store.getContact(contact.id) ?? contact;
  const entries = store.listQuarantine({ senderSignPk: current.signPk });
  const opened: ReceivedMessage[] = [];
  let remaining = 0;
  if (current.state === 'changed') return { opened, remaining: entries.length };
  const book = new SessionBook(store, identity, Date.now, randomBytes, limits);
  store.transaction(() => {
    const found: { o: Opened; receivedAt: number }[] = [];
    for (const e of entries) {
      let o: Opened;
      try {
        // v2 entries open in order of arrival: a prekey message starts the session the next ones use.
        // v1 from a contact that has sent v2 stays (DOWNGRADE: judge() says why).
        if (e.envelope[0] !== ENVELOPE_V2_VERSION && book.heardV2From(current)) throw new DataError('DOWNGRADE', 'v1 after v2');
        o = e.envelope[0] === ENVELOPE_V2_VERSION ? book.open(current, openEnvelopeV2(identity.boxSk, e.envelope)) : openInner(identity, openOuter(identity, e.envelope), current);
      } catch {
        remaining++;
        continue;
      }
      if (o.kind === 'msg') found.push({ o, receivedAt: e.receivedAt });
      store.removeQuarantine(e.id);
    }
    book.commit();
    found.sort((a, b) => a.o.time - b.o.time);
    for (const { o, receivedAt } of found) {
      const isNew = store.addMessage({ msgId: o.id, contactId: current.id, direction: 'in', time: o.time, body: bodyOf(o.body), receivedAt });
      if (isNew) opened.push({ id: toHex(o.id), from: current.label, to: myName, time: o.time, body: bodyText(o.body) });
    }
  });
  return { opened, remaining };
}
