/**
 * Contacts as keys, names as what a relay says (docs/PROTOCOL.md §5.7, §8.2), in process on a
 * real SQLite file: labels per relay, our own name never used as a label, a key change only
 * from the contact's own relay (the verified mark kept), --reject remembered, and the relay of
 * contacts pinned before records version 2 adopted once.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HushStore } from '../../src/store/db.js';
import { key, person, removeHome, tempHome } from './store-helpers.js';

const A = 'ws://127.0.0.1:7070';
const B = 'wss://relay.example:7443';
let home: string;
let hk: Uint8Array;
let store: HushStore;

beforeEach(() => {
  home = tempHome();
  hk = key();
  store = HushStore.open(home, hk);
});
afterEach(() => {
  store.close();
  removeHome(home);
});

describe('labels', () => {
  it('a second key named like a contact from another relay is a separate contact name@host', () => {
    const bob = person('bob');
    const other = person('bob');
    expect(store.pinContact(bob.bundle, undefined, A)).toMatchObject({ status: 'new', contact: { label: 'bob', relay: A } });
    expect(store.pinContact(other.bundle, undefined, B)).toMatchObject({ status: 'new', contact: { label: 'bob@relay.example:7443', name: 'bob', relay: B } });
    expect(store.findContactByLabel('bob')!.signPk).toEqual(bob.bundle.signPk);
    expect(store.findContactsByName('bob')).toHaveLength(2);
    // the same name on the SAME relay with another key is a key change, not a new contact
    const third = person('bob');
    expect(store.pinContact(third.bundle, undefined, A)).toMatchObject({ status: 'changed', contact: { label: 'bob' } });
  });

  it('our own name is never a contact label', () => {
    const impostor = person('alice');
    expect(store.pinContact(impostor.bundle, undefined, B, ['alice'])).toMatchObject({ status: 'new', contact: { label: 'alice@relay.example:7443' } });
  });
});

describe('key changes and refusals', () => {
  it('a recorded change keeps the pinned key verified; reject keeps it, remembers the refused key; accept replaces it', () => {
    const bob = person('bob');
    const id = store.pinContact(bob.bundle, undefined, A).contact.id;
    store.markVerified(id);
    const bob2 = person('bob');
    const changed = store.recordKeyChange(id, bob2.bundle);
    expect(changed).toMatchObject({ state: 'changed', verified: true });
    expect(changed.signPk).toEqual(bob.bundle.signPk);
    const { contact, rejected } = store.rejectPendingKey(id);
    expect(contact).toMatchObject({ state: 'trusted', verified: true, label: 'bob', relay: A });
    expect(contact.pendingBundle).toBeUndefined();
    expect(rejected.signPk).toEqual(bob2.bundle.signPk);
    expect(contact.rejected).toEqual([bob2.bundle.signPk]);
    expect(() => store.rejectPendingKey(id)).toThrow(expect.objectContaining({ code: 'NO_PENDING_KEY' }));
    // survives a reopen
    store.close();
    store = HushStore.open(home, hk);
    expect(store.getContact(id)!.rejected).toEqual([bob2.bundle.signPk]);
    // a third key accepted replaces the pinned one, unverified, label and relay kept
    const bob3 = person('bob');
    store.recordKeyChange(id, bob3.bundle);
    expect(store.acceptNewKey(id)).toMatchObject({ state: 'trusted', verified: false, label: 'bob', relay: A });
  });

  it('adoptRelay records the relay of contacts that have none, once', () => {
    const bob = person('bob');
    store.pinContact(bob.bundle); // no relay known (as records before version 2)
    expect(store.listContacts()[0]!.relay).toBeUndefined();
    expect(store.adoptRelay(A)).toBe(1);
    expect(store.adoptRelay(B)).toBe(0);
    expect(store.listContacts()[0]!.relay).toBe(A);
  });
});
