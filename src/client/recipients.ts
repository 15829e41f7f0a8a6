/**
 * Which key a label the user typed seals to (docs/SECURITY.md "What unauthenticated input may
 * change", docs/PROTOCOL.md §5.7): pinned contacts, first pins from this relay's directory, and
 * key changes. The Messenger supplies the lookup (which connection asks) and the events.
 */
import { RelayError, TrustError, UsageError } from '../errors.js';
import { type Bundle } from '../protocol/bundle.js';
import { bytesEqual } from '../protocol/encoding.js';
import { verifyBundle } from '../crypto/bundle.js';
import { type Contact, type HushStore, relayHost } from '../store/db.js';

export interface RecipientContext {
  store: HushStore;
  /** Canonical URL of the relay in use. */
  relay: string;
  /** Our own name on it. */
  myName: string;
  mySignPk: Uint8Array;
  /** Asks the relay's directory for `name` (RelayError NOT_FOUND when nobody has it). */
  lookup(name: string, contact: Contact | undefined): Promise<Bundle>;
  /** A first contact was pinned. */
  onPinned(c: Contact): void;
  /** A contact pinned from another relay is reached through the relay in use, by its pinned key. */
  onRouted(r: { label: string; pinnedFrom: string; via: string }): void;
}

/** Was this contact pinned from `relay`? (Contacts from before records v2: yes.) */
export function fromRelay(c: Contact, relay: string): boolean {
  return c.relay === undefined || c.relay === relay;
}

/**
 * The contact to seal to, by the label the user typed (docs/SECURITY.md "What unauthenticated input may change", PROTOCOL.md §5.7). A pinned
 * contact is checked against this relay's directory when it answers and when it was pinned
 * from this relay: the same keys, or a key the user rejected, keep the pinned contact; any
 * other key is recorded as a key change (TrustError KEY_CHANGED). A contact pinned from another
 * relay is used as pinned (a name is only what one relay says). An unknown name is looked up
 * and pinned on first use (event 'pinned'). UsageError UNKNOWN_RECIPIENT when nobody has the
 * name, SELF for our own name, WRONG_RELAY for `name@host` of another relay; RelayError when
 * the relay is unreachable and the name is not pinned (a pinned contact is returned then).
 */
export async function resolveRecipient(x: RecipientContext, label: string): Promise<Contact> {
  let contact = x.store.findContactByLabel(label);
  if (contact?.state === 'changed') throw keyChanged(contact.label);
  if (contact && !fromRelay(contact, x.relay)) {
    x.onRouted({ label: contact.label, pinnedFrom: contact.relay ?? '', via: x.relay });
    return contact;
  }
  let name = contact ? contact.name : label;
  if (!contact) {
    const at = label.indexOf('@');
    if (at > 0) {
      name = label.slice(0, at);
      const host = label.slice(at + 1);
      if (host !== relayHost(x.relay)) {
        throw new UsageError('WRONG_RELAY', `${label} is not pinned, and its relay ${host} is not the one in use (${x.relay})`, {
          hint: `pass --relay ws://${host} to reach ${name} there`,
        });
      }
    }
    if (name === x.myName) throw new UsageError('SELF', `${name} is you`, { hint: 'name a contact; hush does not send messages to yourself' });
  }
  let bundle: Bundle | undefined;
  try {
    bundle = await x.lookup(name, contact);
  } catch (e) {
    if (!(e instanceof RelayError)) throw e;
    if (e.code === 'NOT_FOUND') {
      if (contact) return contact; // the relay forgot the name; the pinned key still works
      throw new UsageError('UNKNOWN_RECIPIENT', `no user named ${name} on the relay`, { hint: `check the name, or ask ${name} to run hush register` });
    }
    if (contact) return contact;
    throw new RelayError(e.code, `${e.message}; ${name}'s key is not pinned yet, so nothing could be sealed and nothing was queued`, {
      ...(e.hint === undefined ? {} : { hint: e.hint }),
      cause: e,
    });
  }
  verifyBundle(bundle);
  if (bundle.name !== name) {
    throw new TrustError('BUNDLE_NAME_MISMATCH', `the relay answered for ${name} with a key bundle named ${bundle.name}`, {
      hint: 'the relay may be misbehaving; do not trust it',
    });
  }
  if (contact) {
    // Same identity key and box key: fine. A key the user rejected: keep the pinned one.
    // Anything else is a key change (a new box key under the same identity key too:
    // conservative, the user confirms with hush trust). The pinned key stays pinned and keeps
    // its verified mark: a relay answer alone never demotes a contact.
    if (bytesEqual(contact.signPk, bundle.signPk) && bytesEqual(contact.boxPk, bundle.boxPk)) return contact;
    if (contact.rejected?.some((k) => bytesEqual(k, bundle.signPk))) return contact;
    x.store.recordKeyChange(contact.id, bundle);
    throw keyChanged(contact.label);
  }
  if (bytesEqual(bundle.signPk, x.mySignPk))
    throw new UsageError('SELF', `${name} is your own key on this relay`, { hint: 'name a contact; hush does not send messages to yourself' });
  const r = x.store.pinContact(bundle, undefined, x.relay);
  contact = r.contact;
  if (r.status === 'new') x.onPinned(contact);
  else if (r.status === 'changed') {
    if (contact.rejected?.some((k) => bytesEqual(k, bundle.signPk))) return contact;
    x.store.recordKeyChange(contact.id, bundle);
    throw keyChanged(contact.label);
  }
  return contact;
}

export function keyChanged(name: string): TrustError {
  return new TrustError('KEY_CHANGED', `${name}'s key has changed since you pinned it`, { hint: `verify the new fingerprint with ${name}, then run hush trust ${name}` });
}
