/**
 * The contacts of the local store (docs/PROTOCOL.md §8.1, §8.4): trust on first use, labels
 * (`name@host:port` for a second contact of one name), key changes (recorded, accepted or
 * refused, never applied silently) and the out-of-band verified mark. Each contact is one
 * record sealed under the history key (src/store/db-codec.ts), so the decrypted list is cached
 * per connection: the cache is reloaded only when another connection committed (PRAGMA
 * data_version) AND meta.contacts_gen, bumped by every contact write, moved.
 * Used through HushStore (src/store/db.ts), inside its transactions; the store tells the table
 * when its outermost transaction opens, closes or fails (txOpened, txClosed, dropCache).
 */
import { InternalError, TrustError } from '../errors.js';
import type { Bundle } from '../protocol/bundle.js';
import { bytesEqual } from '../protocol/encoding.js';
import { verifyBundle } from '../crypto/bundle.js';
import { type Contact, openContact, sealContact } from './db-codec.js';
import type { TableContext } from './db-quarantine.js';
import type { V2Tables } from './db-sessions.js';
import { badArg, u8 } from './db-util.js';

export type PinResult =
  /** First contact: the bundle is now pinned (TOFU). */
  | { status: 'new'; contact: Contact }
  /** Already pinned with these keys. */
  | { status: 'known'; contact: Contact }
  /** The name is pinned with other keys; nothing changed (see recordKeyChange). */
  | { status: 'changed'; contact: Contact };

export class ContactTable {
  private cache: Contact[] | undefined;
  private cacheDataVersion = -1;
  private cacheGen = -1;
  /** The store's outermost transaction is open; the cache was checked inside it. */
  private inTx = false;
  private checkedInTx = false;

  /** `v2`: the sessions of a contact whose key is replaced are deleted (acceptNewKey). */
  constructor(
    private readonly c: TableContext,
    private readonly v2: V2Tables,
  ) {}

  /** The store opened its outermost transaction. */
  txOpened(): void {
    this.inTx = true;
    this.checkedInTx = false;
  }

  /** The store's outermost transaction ended (committed or rolled back). */
  txClosed(): void {
    this.inTx = false;
    this.checkedInTx = false;
  }

  /** Forgets the decrypted contacts (a transaction failed, or the store closed). */
  dropCache(): void {
    this.cache = undefined;
  }

  /** All contacts, ordered by id. */
  listContacts(): Contact[] {
    return this.c.run(() => [...this.contacts()]);
  }

  getContact(id: number): Contact | undefined {
    return this.c.run(() => this.contacts().find((c) => c.id === id));
  }

  findContactByName(name: string): Contact | undefined {
    return this.c.run(() => this.contacts().find((c) => c.name === name));
  }

  /** The contact the user addresses as `label` (a name, or name@host:port for a second one). */
  findContactByLabel(label: string): Contact | undefined {
    return this.c.run(() => this.contacts().find((c) => c.label === label));
  }

  /** Every contact whose bundle carries `name` (from any relay). */
  findContactsByName(name: string): Contact[] {
    return this.c.run(() => this.contacts().filter((c) => c.name === name));
  }

  /** Matches the pinned key only (not a pending one). */
  findContactBySignPk(signPk: Uint8Array): Contact | undefined {
    return this.c.run(() => this.contacts().find((c) => bytesEqual(c.signPk, signPk)));
  }

  /** The contact whose pending (changed, not yet accepted) key is `signPk`. */
  findContactByPendingSignPk(signPk: Uint8Array): Contact | undefined {
    return this.c.run(() => this.contacts().find((c) => c.pendingBundle !== undefined && bytesEqual(c.pendingBundle.signPk, signPk)));
  }

  /**
   * Trust on first use. Verifies the bundle's signature; pins it when its name is new
   * ('new'); reports 'known' when the name is pinned with the same keys and 'changed' when
   * with other keys (nothing is written then: call recordKeyChange). Throws TrustError
   * KEY_ALREADY_PINNED when the key is pinned under another name.
   */
  pinContact(bundle: Bundle, pinnedAt?: number, relay?: string, reserved: readonly string[] = []): PinResult {
    verifyBundle(bundle);
    return this.c.transaction((): PinResult => {
      const all = this.contacts();
      // Names are what a relay says: only a contact pinned from the same relay (or from an
      // unknown one: records made before contact version 2) is "the same name".
      const byName = all.find((c) => c.name === bundle.name && (c.relay === undefined || relay === undefined || c.relay === relay));
      if (byName) {
        const same = bytesEqual(byName.signPk, bundle.signPk) && bytesEqual(byName.boxPk, bundle.boxPk);
        return { status: same ? 'known' : 'changed', contact: byName };
      }
      const byKey = all.find((c) => bytesEqual(c.signPk, bundle.signPk));
      if (byKey) {
        throw new TrustError('KEY_ALREADY_PINNED', `the key offered for ${bundle.name} is already pinned for ${byKey.name}`, {
          hint: 'one identity key may belong to one contact only',
        });
      }
      const maxId = (this.c.stmt('contactMax', 'SELECT coalesce(max(id), 0) AS m FROM contacts').get() as { m: number }).m;
      const contact: Contact = {
        id: maxId + 1,
        label: freeLabel(all, bundle.name, relay, reserved),
        name: bundle.name,
        signPk: bundle.signPk,
        boxPk: bundle.boxPk,
        bundle,
        pinnedAt: pinnedAt ?? this.c.now(),
        verified: false,
        state: 'trusted',
        ...(relay === undefined ? {} : { relay }),
      };
      this.c.stmt('contactInsert', 'INSERT INTO contacts (id, data) VALUES (?, ?)').run(contact.id, sealContact(contact, this.c.key));
      this.contactsChanged();
      return { status: 'new', contact };
    });
  }

  /**
   * Refuses the pending key of contact `id` (`hush trust NAME --reject`): the pinned key stays
   * (and stays verified if it was), the contact is 'trusted' again, and the refused identity key
   * is remembered so that neither a relay answer nor its mail records the same change again.
   * TrustError NO_PENDING_KEY when none waits. Returns the contact and the refused bundle.
   */
  rejectPendingKey(id: number): { contact: Contact; rejected: Bundle } {
    let rejected: Bundle | undefined;
    const contact = this.updateContact(id, (c) => {
      const b = c.pendingBundle;
      if (!b) throw new TrustError('NO_PENDING_KEY', `no new key is waiting for ${c.label}`);
      rejected = b;
      const { pendingBundle: _p, pendingSeenAt: _s, ...rest } = c;
      const list = (c.rejected ?? []).filter((k) => !bytesEqual(k, b.signPk));
      return { ...rest, state: 'trusted', rejected: [...list, b.signPk].slice(-1000) };
    });
    return { contact, rejected: rejected! };
  }

  /** Records the relay a contact pinned before contact records version 2 came from. */
  adoptRelay(relay: string): number {
    return this.c.transaction(() => {
      let n = 0;
      for (const c of this.contacts()) {
        if (c.relay !== undefined) continue;
        this.updateContact(c.id, (x) => ({ ...x, relay }));
        n++;
      }
      return n;
    });
  }

  /** Marks the pinned key as compared out of band. */
  markVerified(id: number): Contact {
    return this.updateContact(id, (c) => ({ ...c, verified: true }));
  }

  /**
   * Records that `newBundle` (same name, other keys) was seen for contact `id`: state becomes
   * 'changed' and the bundle waits for acceptNewKey. A bundle equal to the pinned one is a no-op.
   */
  recordKeyChange(id: number, newBundle: Bundle, seenAt?: number): Contact {
    verifyBundle(newBundle);
    return this.updateContact(id, (c) => {
      if (newBundle.name !== c.name) throw badArg('a changed key must be for the same name');
      if (bytesEqual(c.signPk, newBundle.signPk) && bytesEqual(c.boxPk, newBundle.boxPk)) return c;
      return { ...c, state: 'changed', pendingBundle: newBundle, pendingSeenAt: seenAt ?? this.c.now() };
    });
  }

  /**
   * Pins the pending key of contact `id` (after `hush trust`): it replaces the old key, the
   * contact is 'trusted' again and not verified. TrustError NO_PENDING_KEY when none waits.
   */
  acceptNewKey(id: number, pinnedAt?: number): Contact {
    return this.updateContact(id, (c) => {
      const b = c.pendingBundle;
      if (!b) throw new TrustError('NO_PENDING_KEY', `no new key is waiting for ${c.name}`);
      const other = this.contacts().find((x) => x.id !== c.id && bytesEqual(x.signPk, b.signPk));
      if (other) throw new TrustError('KEY_ALREADY_PINNED', `the new key of ${c.name} is already pinned for ${other.name}`);
      const next: Contact = {
        id: c.id,
        label: c.label,
        name: b.name,
        signPk: b.signPk,
        boxPk: b.boxPk,
        bundle: b,
        pinnedAt: pinnedAt ?? this.c.now(),
        verified: false,
        state: 'trusted',
      };
      if (c.relay !== undefined) next.relay = c.relay;
      if (c.rejected) next.rejected = c.rejected.filter((k) => !bytesEqual(k, b.signPk));
      // The sessions were with the old keys: the next message starts a new one (§9).
      this.v2.deleteSessionsOf(c.id);
      return next;
    });
  }

  /**
   * The decrypted contacts, cached. Another process's commit changes PRAGMA data_version;
   * the cache is then reloaded only if meta.contacts_gen (bumped by every contact write)
   * moved too.
   */
  private contacts(): Contact[] {
    // Inside a transaction we hold the write lock: no other process can commit, so a cache
    // checked once in it stays valid until our own contact writes (contactsChanged drops it).
    if (this.cache && this.checkedInTx && this.inTx) return this.cache;
    const dv = this.c.stmt('dataVersion', 'PRAGMA data_version').pluck().get() as number;
    if (this.cache && dv === this.cacheDataVersion) return this.cache;
    const genRow = this.c.stmt('genGet', "SELECT value FROM meta WHERE key = 'contacts_gen'").get() as { value: number } | undefined;
    const gen = genRow?.value ?? 0;
    if (!this.cache || gen !== this.cacheGen) {
      const rows = this.c.stmt('contactAll', 'SELECT id, data FROM contacts ORDER BY id').all() as { id: number; data: Buffer }[];
      this.cache = rows.map((r) => openContact(r.id, u8(r.data), this.c.key));
      this.cacheGen = gen;
    }
    this.cacheDataVersion = dv;
    this.checkedInTx = this.inTx;
    return this.cache;
  }

  /** Called inside a transaction after a contact write: bump the generation, drop the cache. */
  private contactsChanged(): void {
    this.c.stmt('genBump', "INSERT INTO meta (key, value) VALUES ('contacts_gen', 1) ON CONFLICT (key) DO UPDATE SET value = value + 1").run();
    this.cache = undefined;
  }

  private updateContact(id: number, f: (c: Contact) => Contact): Contact {
    return this.c.transaction(() => {
      const c = this.contacts().find((x) => x.id === id);
      if (!c) throw new InternalError('UNKNOWN_CONTACT_ID', 'no contact has that id');
      const next = f(c);
      if (next === c) return c;
      this.c.stmt('contactUpdate', 'UPDATE contacts SET data = ? WHERE id = ?').run(sealContact(next, this.c.key), id);
      this.contactsChanged();
      return next;
    });
  }
}

/** `name`, or `name@host:port` of `relay` when another contact (or a `reserved` label: our own name) has it. */
function freeLabel(all: readonly Contact[], name: string, relay: string | undefined, reserved: readonly string[]): string {
  const taken = (l: string): boolean => reserved.includes(l) || all.some((c) => c.label === l);
  if (!taken(name)) return name;
  const base = relay === undefined ? name : `${name}@${relayHost(relay)}`;
  if (!taken(base)) return base;
  for (let i = 2; ; i++) if (!taken(`${base}~${i}`)) return `${base}~${i}`;
}

/** host[:port][/path] of a canonical relay URL (the scheme dropped). */
export function relayHost(url: string): string {
  return url.replace(/^wss?:\/\//, '');
}
