/**
 * Delivery tokens, the client side (docs/PROTOCOL.md §5.8; SECURITY.md "Sealed sender").
 *
 * Issuing (our mailbox): a contact we have written to, and who has written to us, gets a token for our mailbox on the relay
 * in use, derived from a per-home token key (src/crypto/delivery-token.ts) for the current epoch
 * (floor(now / lifetime)) and a generation that grows with each revocation. Its hash is
 * registered with the relay (`tokens` frame, authenticated), then the token travels to the
 * contact in a sealed envelope of kind `token` through the outbox. A token is valid for the
 * epoch it was made in and the next one (exp = (epoch + 2) * lifetime); at the next epoch a new
 * one is issued and the one before the previous is removed. Rejecting or accepting a changed
 * key revokes what the contact held: its hashes are removed at the next connection.
 *
 * Holding (their mailbox): a token received from a contact is kept and presented on an
 * unauthenticated connection when sending to them through the relay it names, until it expires
 * or the relay refuses it (TOKEN_INVALID: forgotten, the send goes identified).
 *
 * Everything is kept in the store's kv table, whose values are sealed under the history key:
 *   dt.key          the token key (32 random bytes, base64)
 *   dt.out.<id>     what contact <id> was given: {relay, epoch, gen, h, prev} (epoch -1: due)
 *   dt.in.<id>      what contact <id> gave us: {relay, token, exp}
 *   dt.revoke       hashes to remove from relays: [{relay, h}]
 */
import { RelayError } from '../errors.js';
import { decodeTokenBody, encodeTokenBody, tokenHash } from '../protocol/delivery-token.js';
import { fromB64, toB64 } from '../protocol/encoding.js';
import { envelopeId, MSG_ID_BYTES } from '../protocol/envelope.js';
import { deriveDeliveryToken, TOKEN_KEY_BYTES } from '../crypto/delivery-token.js';
import { type BoxIdentity, type SharedKeyCache } from '../crypto/seal.js';
import { sealFor } from './sessions.js';
import type { Random } from '../crypto/nacl.js';
import type { Contact, HushStore } from '../store/db.js';
import type { QueuedMessage } from './messenger.js';
import type { RelayClient } from './relay-client.js';

/** Default token lifetime (one epoch): a token is valid for one to two of them. */
export const DEFAULT_TOKEN_LIFETIME_MS = 7 * 24 * 3600 * 1000;
/** A held token this close to its expiry is not used (clocks differ). */
export const TOKEN_EXPIRY_MARGIN_MS = 1000;

interface Issued {
  relay: string;
  /** -1: due (we wrote to the contact) but not issued yet. */
  epoch: number;
  gen: number;
  /** Hash of the current token, and of the one before (still valid until it expires). */
  h?: string;
  prev?: string;
}

interface Held {
  relay: string;
  token: string;
  exp: number;
}

const outKey = (id: number): string => `dt.out.${id}`;
const inKey = (id: number): string => `dt.in.${id}`;

function readJson<T>(store: HushStore, key: string): T | undefined {
  const v = store.getValue(key);
  if (v === undefined) return undefined;
  try {
    return JSON.parse(v) as T;
  } catch {
    return undefined;
  }
}

/** The token we hold for sending to `contact` through `relay`, if still valid. */
export function heldToken(store: HushStore, contactId: number, relay: string, now: number): Uint8Array | undefined {
  const h = readJson<Held>(store, inKey(contactId));
  if (!h || h.relay !== relay || h.exp <= now + TOKEN_EXPIRY_MARGIN_MS) return undefined;
  try {
    return fromB64(h.token);
  } catch {
    return undefined;
  }
}

/** Forgets the token held for a contact (the relay refused it). */
export function dropHeldToken(store: HushStore, contactId: number): void {
  store.deleteValue(inKey(contactId));
}

/** Refusals of a token send after which the envelope goes identified (TokenUse.refused). */
const TOKEN_FALLBACK = new Set(['TOKEN_INVALID', 'AUTH_REQUIRED', 'UNKNOWN_TYPE', 'BAD_FRAME']);

/**
 * Which held token a send presents (a Messenger holds one of these for its relay): the one we
 * hold for the contact, until the relay refuses a token send as if it did not know tokens;
 * from then on every send of this Messenger goes identified.
 */
export class TokenUse {
  /** The relay refused a token send as if it did not know tokens: send identified from now on. */
  private noTokens = false;

  constructor(
    private readonly store: HushStore,
    /** Canonical URL of the relay in use. */
    private readonly relay: string,
    private readonly now: () => number,
  ) {}

  /** The delivery token to send to `contactId` with (sealed sender), or undefined: send identified. */
  tokenFor(contactId: number): Uint8Array | undefined {
    if (this.noTokens) return undefined;
    return heldToken(this.store, contactId, this.relay, this.now());
  }

  /**
   * A token send was refused with `code`: TOKEN_INVALID forgets that token (expired or
   * revoked; the next try goes identified, as at first contact); AUTH_REQUIRED, UNKNOWN_TYPE
   * or BAD_FRAME mean a relay without delivery tokens: identified from now on. Returns false
   * for any other code (not a token problem).
   */
  refused(contactId: number, code: string): boolean {
    if (!TOKEN_FALLBACK.has(code)) return false;
    if (code === 'TOKEN_INVALID') dropHeldToken(this.store, contactId);
    else this.noTokens = true;
    return true;
  }
}

/** Keeps a token a contact sent us (kind `token`); a malformed body is ignored (DataError). */
export function storeHeldToken(store: HushStore, contact: Contact, body: Uint8Array): void {
  const b = decodeTokenBody(body);
  const cur = readJson<Held>(store, inKey(contact.id));
  if (cur && cur.relay === b.relay && cur.exp > b.exp) return; // an older token arrived late
  store.setValue(inKey(contact.id), JSON.stringify({ relay: b.relay, token: toB64(b.token), exp: b.exp } satisfies Held));
}

/**
 * We wrote to `contact`: it is due a token, issued at the next sync once it has written to us
 * too (a conversation both sides took part in). Cheap when it has one.
 */
export function markTokenDue(store: HushStore, contact: Contact, relay: string): void {
  const cur = readJson<Issued>(store, outKey(contact.id));
  if (cur && cur.relay === relay) return;
  store.setValue(outKey(contact.id), JSON.stringify({ relay, epoch: -1, gen: cur?.gen ?? 0 } satisfies Issued));
}

/**
 * Revokes what `contact` was given (a key was rejected or replaced): its hashes are queued for
 * removal at the next connection and the next token has a new generation. The token the
 * contact gave us is forgotten too. Returns true when there was something to revoke.
 */
export function revokeTokens(store: HushStore, contactId: number): boolean {
  const cur = readJson<Issued>(store, outKey(contactId));
  dropHeldToken(store, contactId);
  if (!cur) return false;
  const list = readJson<{ relay: string; h: string }[]>(store, 'dt.revoke') ?? [];
  for (const h of [cur.h, cur.prev]) if (h) list.push({ relay: cur.relay, h });
  store.setValue('dt.revoke', JSON.stringify(list.slice(-1000)));
  store.setValue(outKey(contactId), JSON.stringify({ relay: cur.relay, epoch: -1, gen: cur.gen + 1 } satisfies Issued));
  return cur.h !== undefined;
}

/** Has the contact written to us too (among the newest HISTORY_WINDOW messages with it)? */
function wroteBack(store: HushStore, contactId: number): boolean {
  return store.history({ contactId, limit: HISTORY_WINDOW }).some((m) => m.direction === 'in');
}
const HISTORY_WINDOW = 200;

function tokenKey(store: HushStore, random: Random): Uint8Array {
  const v = store.getValue('dt.key');
  if (v !== undefined) {
    const k = fromB64(v);
    if (k.length === TOKEN_KEY_BYTES) return k;
  }
  const k = random(TOKEN_KEY_BYTES);
  store.setValue('dt.key', toB64(k));
  return k;
}

export interface TokenSyncContext {
  store: HushStore;
  identity: BoxIdentity;
  relay: string;
  lifetimeMs: number;
  now: () => number;
  random: Random;
  cache?: SharedKeyCache;
}

/**
 * Over an authenticated connection: removes revoked hashes, then issues a token for the
 * current epoch to every contact that is due one (new, or an older epoch) and queues the token
 * envelopes in the outbox. Returns the envelopes to send. A relay without delivery tokens
 * answers UNKNOWN_TYPE: nothing is issued, nothing fails (sends stay identified).
 */
export async function syncTokens(connect: () => Promise<RelayClient>, x: TokenSyncContext): Promise<QueuedMessage[]> {
  const { store } = x;
  const revoke = (readJson<{ relay: string; h: string }[]>(store, 'dt.revoke') ?? []).filter((r) => r.relay === x.relay);
  const now = x.now();
  const epoch = Math.floor(now / x.lifetimeMs);
  const due: { contact: Contact; rec: Issued }[] = [];
  for (const contact of store.listContacts()) {
    if (contact.state !== 'trusted') continue; // a changed key gets nothing until the user decides
    const rec = readJson<Issued>(store, outKey(contact.id));
    if (!rec || rec.relay !== x.relay || rec.epoch === epoch) continue;
    if (rec.epoch < 0 && !wroteBack(store, contact.id)) continue; // not until they have written to us too
    due.push({ contact, rec });
  }
  if (revoke.length === 0 && due.length === 0) return [];
  const key = tokenKey(store, x.random);
  const exp = (epoch + 2) * x.lifetimeMs;
  const made = due.map(({ contact, rec }) => {
    const token = deriveDeliveryToken(key, x.relay, contact.signPk, epoch, rec.gen);
    return { contact, rec, token, h: tokenHash(token) };
  });
  // The token of the previous epoch stays valid (a contact may not have pulled the new one
  // yet); older ones are removed (they expire anyway).
  const stale = (r: Issued): string[] => (r.epoch === epoch - 1 ? [r.prev] : [r.h, r.prev]).filter((h): h is string => h !== undefined);
  const remove = [...revoke.map((r) => r.h), ...made.flatMap((m) => stale(m.rec))].map((h) => fromB64(h));
  const c = await connect();
  try {
    for (let i = 0; i < Math.max(made.length, remove.length); i += 64) {
      await c.tokens(
        made.slice(i, i + 64).map((m) => ({ h: m.h, exp })),
        remove.slice(i, i + 64),
      );
    }
  } catch (e) {
    if (e instanceof RelayError && (e.code === 'UNKNOWN_TYPE' || e.code === 'TOO_MANY_TOKENS')) return []; // an older relay, or a full table: stay identified
    throw e;
  }
  return store.transaction(() => {
    const left = (readJson<{ relay: string; h: string }[]>(store, 'dt.revoke') ?? []).filter((r) => r.relay !== x.relay);
    if (left.length > 0) store.setValue('dt.revoke', JSON.stringify(left));
    else store.deleteValue('dt.revoke');
    return made.map(({ contact, rec, token, h }) => {
      const keepPrev = rec.epoch === epoch - 1 ? rec.h : undefined;
      store.setValue(outKey(contact.id), JSON.stringify({ relay: x.relay, epoch, gen: rec.gen, h: toB64(h), ...(keepPrev ? { prev: keepPrev } : {}) } satisfies Issued));
      const msgId = x.random(MSG_ID_BYTES);
      const time = x.now();
      const payload = { kind: 'token' as const, id: msgId, time, body: encodeTokenBody({ token, exp, relay: x.relay }) };
      const envelope = sealFor({ store, identity: x.identity, random: x.random, now: x.now, ...(x.cache ? { cache: x.cache } : {}) }, contact, payload).envelope;
      const eid = envelopeId(envelope);
      store.enqueueOutbox({ eid, contactId: contact.id, envelope, msgId, createdAt: time });
      return { eid, envelope, msgId, contactId: contact.id, to: contact.label, toSignPk: contact.signPk, time, fromOutbox: false, control: true };
    });
  });
}
