/** Shared set-up of the protocol v2 unit tests: identities, a prekey store, two-party helpers. */
import { generateIdentity, type Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import type { PrekeyLookup } from '../../src/crypto/pqxdh.js';
import {
  generateKemPrekey,
  generateOneTimePrekey,
  generateSignedPrekey,
  type KemPrekey,
  makePrekeyBundle,
  type OneTimePrekey,
  type SignedPrekey,
} from '../../src/crypto/prekeys.js';
import { openMessage, sealMessage, type OpenedMessage } from '../../src/crypto/session.js';
import type { PrekeyBundle } from '../../src/protocol/prekey-bundle.js';
import { encodeSessionState, type SessionState } from '../../src/protocol/session-state.js';

export const T0 = 1763900000000;
export const DAY = 24 * 3600 * 1000;

/** A device's prekeys, as the store will keep them. */
export class PrekeyStore implements PrekeyLookup {
  spks = new Map<number, SignedPrekey>();
  kems = new Map<number, KemPrekey>();
  opks = new Map<number, OneTimePrekey>();
  /** When a newer SPK replaced each one (as the store derives it from the next one's creation). */
  private readonly retired = new Map<number, number>();
  /** SPKs made here and deleted since (the store knows them as ids below the oldest it holds). */
  private readonly deleted = new Set<number>();
  constructor(readonly id: Identity) {}
  spk(id: number) {
    const k = this.spks.get(id);
    const at = this.retired.get(id);
    return k && at !== undefined ? { ...k, retiredAt: at } : k;
  }
  spkDeleted(id: number) {
    return this.deleted.has(id);
  }
  deleteSpk(id: number): void {
    this.spks.delete(id);
    this.deleted.add(id);
  }
  kem(id: number) {
    return this.kems.get(id);
  }
  opk(id: number) {
    return this.opks.get(id);
  }
  /** `at`: when it replaces the SPKs held so far (they are retired then). */
  addSpk(id: number, expires: number, at?: number): SignedPrekey {
    if (at !== undefined) for (const old of this.spks.keys()) if (!this.retired.has(old)) this.retired.set(old, at);
    const k = generateSignedPrekey(this.id, id, expires, randomBytes);
    this.spks.set(id, k);
    return k;
  }
  addKem(id: number, kind: 'one-time' | 'last-resort'): KemPrekey {
    const k = generateKemPrekey(this.id, id, kind, randomBytes);
    this.kems.set(id, k);
    return k;
  }
  addOpk(id: number): OneTimePrekey {
    const k = generateOneTimePrekey(id, randomBytes);
    this.opks.set(id, k);
    return k;
  }
  /** A bundle as the relay would hand it out: newest SPK, a one-time KEM key and OPK when left. */
  bundle(spkId: number): PrekeyBundle {
    const spk = this.spks.get(spkId)!;
    const oneTimeKem = [...this.kems.values()].find((k) => k.kind === 'one-time');
    const kem = oneTimeKem ?? [...this.kems.values()].find((k) => k.kind === 'last-resort')!;
    const opk = [...this.opks.values()][0];
    return makePrekeyBundle(this.id, spk, kem, opk);
  }
  /** What the store does after a handshake succeeded: delete the one-time keys it used. */
  consume(o: OpenedMessage): void {
    if (!o.used) return;
    if (o.used.opkId !== undefined) this.opks.delete(o.used.opkId);
    if (o.used.kemKind === 'one-time') this.kems.delete(o.used.kemId);
  }
}

/** One side of a conversation: identity, prekeys, sessions with the other side, a seq counter. */
export class Party {
  readonly id: Identity;
  readonly prekeys: PrekeyStore;
  sessions: SessionState[] = [];
  seq = 0;
  received: { seq: number; text: string }[] = [];
  constructor() {
    this.id = generateIdentity(randomBytes);
    this.prekeys = new PrekeyStore(this.id);
  }
  get pub() {
    return { signPk: this.id.signPk, boxPk: this.id.boxPk };
  }
  /** Seals `text` on sessions[i] (default: the first) and stores the new state. */
  send(text: string, now = T0, i = 0): Uint8Array {
    const r = sealMessage(this.sessions[i]!, { kind: 'msg', id: randomBytes(16), time: now, seq: ++this.seq, body: new TextEncoder().encode(text) });
    this.sessions[i] = r.state;
    return r.inner;
  }
  /** Opens and commits, as the store will: replace or add the session, delete used prekeys. */
  receive(from: Party, inner: Uint8Array, now = T0): OpenedMessage {
    const o = openMessage(this.id, from.pub, inner, this.sessions, this.prekeys, now, randomBytes);
    if (o.index < 0) this.sessions.push(o.state);
    else this.sessions[o.index] = o.state;
    this.prekeys.consume(o);
    this.received.push({ seq: o.payload.seq, text: new TextDecoder().decode(o.payload.body) });
    return o;
  }
  /** Serialised sessions: to check that a failure changed nothing. */
  snapshot(): string {
    return this.sessions.map((s) => Buffer.from(encodeSessionState(s)).toString('hex')).join('|');
  }
}

/** Bob with one SPK (id 1, valid 30 days), a last-resort KEM key (id 100), `opks` OPKs and `kems` one-time KEM keys. */
export function withPrekeys(p: Party, opks = 3, kems = 3): Party {
  p.prekeys.addSpk(1, T0 + 30 * DAY);
  p.prekeys.addKem(100, 'last-resort');
  for (let i = 0; i < kems; i++) p.prekeys.addKem(200 + i, 'one-time');
  for (let i = 0; i < opks; i++) p.prekeys.addOpk(300 + i);
  return p;
}

export function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return (e as { code?: string }).code ?? `non-hush error: ${String(e)}`;
  }
}

/** A deterministic shuffle (xorshift32) so failures reproduce. */
export function shuffle<T>(a: T[], seed: number): T[] {
  const out = [...a];
  let x = seed >>> 0 || 1;
  for (let i = out.length - 1; i > 0; i--) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
