/**
 * The prekey pool policy of src/client/prekeys.ts (docs/PROTOCOL.md §9.10) with
 * DEFAULT_PREKEY_POLICY, on a real SQLite store in a temp dir and a fake PrekeyRelay that
 * reports a chosen status and records every upload: the first sync uploads a signed prekey, a
 * last-resort ML-KEM key, 100 one-time X25519 and 50 one-time ML-KEM prekeys; a pool at or
 * above its floor (20 / 10) gets nothing; below it, it is topped up to 100 / 50; local one-time
 * X25519 secrets are trimmed to MAX_LOCAL_ONE_TIME (oldest first); the signed prekey rotates
 * once it is rotateMs old (expiring two periods after it was made), and a replaced one's secret
 * is deleted only once now > (when it was replaced) + grace. Also the CLI's parsing of the rotation and grace
 * settings (src/cli/messaging.ts prekeyPolicy): flag over config, and the error codes.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_PREKEY_POLICY, MAX_LOCAL_ONE_TIME, MAX_LOCAL_ONE_TIME_KEM, maintainPrekeys, type PrekeyRelay, syncPrekeys } from '../../src/client/prekeys.js';
import type { CommandContext } from '../../src/cli/commands/index.js';
import { prekeyPolicy } from '../../src/cli/messaging.js';
import { generateIdentity, type Identity } from '../../src/crypto/identity.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { DEFAULT_SPK_GRACE_MS } from '../../src/crypto/pqxdh.js';
import type { PrekeyStatus, PrekeyUpload } from '../../src/protocol/prekey-upload.js';
import type { Config } from '../../src/store/config.js';
import { HushStore } from '../../src/store/db.js';
import { key, removeHome, tempHome } from './store-helpers.js';

const T0 = 1_800_000_000_000;
const DAY = 86_400_000;
const P = DEFAULT_PREKEY_POLICY;

/** The signed and last-resort prekeys the relay serves (one relay per test: every FakeRelay below shares it). */
let served: Pick<PrekeyStatus, 'spk' | 'lastResort'> = {};

/**
 * The relay: reports `status` for the one-time pools (it keeps no one-time keys itself), and
 * the signed and last-resort prekeys it was last given (`served`), as the real one does.
 */
class FakeRelay implements PrekeyRelay {
  uploads: PrekeyUpload[] = [];
  constructor(public status: PrekeyStatus | null = { opks: 0, kems: 0 }) {}
  prekeyStatus(): Promise<PrekeyStatus | null> {
    return Promise.resolve(this.status && { ...this.status, ...served });
  }
  publishPrekeys(u: PrekeyUpload): Promise<PrekeyStatus> {
    this.uploads.push(u);
    if (u.spk) served = { ...served, spk: { id: u.spk.id, expires: u.spk.expires } };
    if (u.lastResort) served = { ...served, lastResort: { id: u.lastResort.id } };
    return Promise.resolve({ opks: (this.status?.opks ?? 0) + (u.opks?.length ?? 0), kems: (this.status?.kems ?? 0) + (u.kems?.length ?? 0), ...served });
  }
}

const ids = (xs: { id: number }[] | undefined): number[] => (xs ?? []).map((x) => x.id);
const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

let home: string;
let store: HushStore;
let me: Identity;

beforeEach(() => {
  served = {};
  home = tempHome();
  store = HushStore.open(home, key());
  me = generateIdentity(randomBytes);
});
afterEach(() => {
  store.close();
  removeHome(home);
});

const local = () => ({ opk: store.v2.count('opk'), kem: store.v2.count('kem'), lastResort: store.v2.count('lastResort'), spk: store.v2.signedPrekeys().map((s) => s.id) });

describe('the pool policy (DEFAULT_PREKEY_POLICY)', () => {
  it('has the documented defaults', () => {
    expect(P).toEqual({ oneTime: 100, refillBelow: 20, kemOneTime: 50, kemRefillBelow: 10, rotateMs: 7 * DAY, graceMs: 7 * DAY });
    expect(DEFAULT_SPK_GRACE_MS).toBe(7 * DAY);
    expect(MAX_LOCAL_ONE_TIME).toBe(1000);
  });

  it('the first sync uploads a signed prekey, a last-resort KEM key, 100 one-time X25519 and 50 one-time ML-KEM prekeys, in one upload, and marks them published', async () => {
    const relay = new FakeRelay();
    expect(await syncPrekeys(store, me, relay, T0, randomBytes)).toBe(152);
    expect(relay.uploads).toHaveLength(1);
    const [u] = relay.uploads as [PrekeyUpload];
    // KEM ids share one counter: the last-resort key is made first.
    expect({ spk: u.spk?.id, expires: u.spk?.expires, lastResort: u.lastResort?.id, opks: ids(u.opks), kems: ids(u.kems) }).toEqual({
      spk: 1,
      expires: T0 + 2 * P.rotateMs,
      lastResort: 1,
      opks: range(1, 100),
      kems: range(2, 51),
    });
    // What went up is the public half of what is kept.
    const spk = store.v2.signedPrekeys()[0]!;
    expect(u.spk!.pk).toEqual(spk.pk);
    expect(u.spk!.sig).toEqual(spk.sig);
    expect(u.opks![7]!.pk).toEqual(store.v2.oneTimePrekey(8)!.pk);
    expect(u.kems![7]!.pk).toEqual(store.v2.kemPrekey(9)!.pk);
    expect(u.lastResort!.pk).toEqual(store.v2.kemPrekey(1)!.pk);
    expect(store.v2.kemPrekey(1)!.kind).toBe('last-resort');
    expect(local()).toEqual({ opk: 100, kem: 50, lastResort: 1, spk: [1] });
    expect(spk).toMatchObject({ createdAt: T0, expires: T0 + 2 * P.rotateMs, published: true });
    expect(store.v2.unpublished()).toEqual({ spk: [], opk: [], kem: [], lastResort: [] });
  });

  it('a relay without prekey support (status null): nothing made, nothing uploaded', async () => {
    const relay = new FakeRelay(null);
    expect(await syncPrekeys(store, me, relay, T0, randomBytes)).toBe(0);
    expect(relay.uploads).toEqual([]);
    expect(local()).toEqual({ opk: 0, kem: 0, lastResort: 0, spk: [] });
  });

  it('pools at or above their floors (25/15, 20/10) get nothing: no upload at all', async () => {
    await syncPrekeys(store, me, new FakeRelay(), T0, randomBytes);
    for (const status of [
      { opks: 25, kems: 15 },
      { opks: 20, kems: 10 },
    ]) {
      const relay = new FakeRelay(status);
      expect(await syncPrekeys(store, me, relay, T0 + DAY, randomBytes)).toBe(0);
      expect(relay.uploads).toEqual([]);
      expect(local()).toEqual({ opk: 100, kem: 50, lastResort: 1, spk: [1] });
    }
  });

  it('19/9 left: tops each pool up to 100/50 (81 X25519, 41 ML-KEM, new ids), nothing else re-sent', async () => {
    await syncPrekeys(store, me, new FakeRelay(), T0, randomBytes);
    const relay = new FakeRelay({ opks: 19, kems: 9 });
    expect(await syncPrekeys(store, me, relay, T0 + DAY, randomBytes)).toBe(81 + 41);
    expect(relay.uploads).toHaveLength(1);
    const [u] = relay.uploads as [PrekeyUpload];
    expect({ spk: u.spk, lastResort: u.lastResort, opks: ids(u.opks), kems: ids(u.kems) }).toEqual({
      spk: undefined,
      lastResort: undefined,
      opks: range(101, 181),
      kems: range(52, 92),
    });
    expect(local()).toEqual({ opk: 181, kem: 91, lastResort: 1, spk: [1] });
    // One pool below its floor, the other not: only that one.
    const one = new FakeRelay({ opks: 19, kems: 10 });
    expect(await syncPrekeys(store, me, one, T0 + 2 * DAY, randomBytes)).toBe(81);
    expect(ids(one.uploads[0]!.kems)).toEqual([]);
    const other = new FakeRelay({ opks: 20, kems: 0 });
    expect(await syncPrekeys(store, me, other, T0 + 2 * DAY, randomBytes)).toBe(50);
    expect(ids(other.uploads[0]!.opks)).toEqual([]);
  });

  it('a relay that lost our signed and last-resort prekeys (restored from a backup) gets them again, and nothing else', async () => {
    await syncPrekeys(store, me, new FakeRelay(), T0, randomBytes);
    served = {};
    const relay = new FakeRelay({ opks: 100, kems: 50 });
    expect(await syncPrekeys(store, me, relay, T0 + DAY, randomBytes)).toBe(2);
    const [u] = relay.uploads as [PrekeyUpload];
    expect({ spk: u.spk?.id, lastResort: u.lastResort?.id, opks: ids(u.opks), kems: ids(u.kems) }).toEqual({ spk: 1, lastResort: 1, opks: [], kems: [] });
    // Served again: the next sync sends nothing.
    const next = new FakeRelay({ opks: 100, kems: 50 });
    expect(await syncPrekeys(store, me, next, T0 + DAY, randomBytes)).toBe(0);
  });

  it('local one-time X25519 secrets are trimmed to MAX_LOCAL_ONE_TIME, the oldest first', async () => {
    await syncPrekeys(store, me, new FakeRelay(), T0, randomBytes); // ids 1-100
    // The relay keeps reporting an empty X25519 pool (keys handed out, never used): 100 more each time.
    for (let k = 1; k <= 10; k++) await syncPrekeys(store, me, new FakeRelay({ opks: 0, kems: 50 }), T0 + k, randomBytes);
    expect(store.v2.count('opk')).toBe(MAX_LOCAL_ONE_TIME); // 1,100 made
    expect(store.v2.oneTimePrekey(100)).toBeUndefined();
    expect(store.v2.oneTimePrekey(101)).toBeDefined();
    expect(store.v2.oneTimePrekey(1100)).toBeDefined();
    expect(store.v2.nextId('opk')).toBe(1101); // ids are not reused after a trim
    expect(store.v2.count('kem')).toBe(50); // the ML-KEM pool was never below its floor
  });

  it('local one-time ML-KEM secrets are trimmed to MAX_LOCAL_ONE_TIME_KEM, the oldest first; the last-resort key stays', async () => {
    await syncPrekeys(store, me, new FakeRelay(), T0, randomBytes); // one-time KEM ids 2-51 (1 is the last-resort key)
    // The relay keeps reporting an empty ML-KEM pool: 50 more each time, 550 made in all.
    for (let k = 1; k <= 10; k++) await syncPrekeys(store, me, new FakeRelay({ opks: 100, kems: 0 }), T0 + k, randomBytes);
    expect(MAX_LOCAL_ONE_TIME_KEM).toBe(500);
    expect(store.v2.count('kem')).toBe(MAX_LOCAL_ONE_TIME_KEM);
    expect(store.v2.count('lastResort')).toBe(1);
    const kemIds = store.v2.unpublished().kem.map((k) => k.id); // all were published: none left unpublished
    expect(kemIds).toEqual([]);
    expect(store.v2.kemPrekey(51)).toBeUndefined(); // the oldest 50 one-time keys went
    expect(store.v2.kemPrekey(52)).toBeDefined();
    expect(store.v2.kemPrekey(1)?.kind).toBe('last-resort');
  });

  it('the signed prekey rotates once rotateMs old; a replaced one’s secret is deleted only once now > its replacement + grace', async () => {
    const relay = new FakeRelay({ opks: 100, kems: 50 });
    maintainPrekeys(store, me, T0, randomBytes); // spk 1: expires T0 + 14 d
    await syncPrekeys(store, me, relay, T0, randomBytes);
    relay.uploads = [];
    // Not yet: one ms short of the period.
    expect(await syncPrekeys(store, me, relay, T0 + P.rotateMs - 1, randomBytes)).toBe(0);
    expect(local().spk).toEqual([1]);
    expect(store.v2.signedPrekey(1)!.retiredAt).toBeUndefined(); // the current one
    // At the period: spk 2 (expires two periods later), uploaded alone; spk 1 kept for its grace.
    expect(await syncPrekeys(store, me, relay, T0 + P.rotateMs, randomBytes)).toBe(1);
    expect(relay.uploads).toEqual([{ spk: expect.objectContaining({ id: 2, expires: T0 + P.rotateMs + 2 * P.rotateMs }) }]);
    expect(local().spk).toEqual([2, 1]);
    const spk1 = store.v2.signedPrekey(1)!;
    expect(spk1.expires).toBe(T0 + 2 * P.rotateMs);
    expect(spk1.retiredAt).toBe(T0 + P.rotateMs); // replaced then: the grace counts from here
    const end = spk1.retiredAt! + P.graceMs; // T0 + 14 d
    // spk 1's last moment (now == replaced + grace): kept; spk 2 (7 d old) has rotated to spk 3.
    maintainPrekeys(store, me, end, randomBytes, P, { opk: 100, kem: 50 });
    expect(local().spk).toEqual([3, 2, 1]);
    expect(store.v2.signedPrekey(1)?.sk).toEqual(spk1.sk);
    // One ms later its secret is gone; spk 2 (replaced at T0 + 14 d, grace to T0 + 21 d) stays.
    maintainPrekeys(store, me, end + 1, randomBytes, P, { opk: 100, kem: 50 });
    expect(local().spk).toEqual([3, 2]);
    expect(store.v2.signedPrekey(1)).toBeUndefined();
    // Back after a long absence (spk 3 expired long ago, but it was still the current key): a
    // new one; spk 3 kept for its grace from now, for the mail that waited; spk 2 deleted.
    maintainPrekeys(store, me, T0 + 100 * DAY, randomBytes, P, { opk: 100, kem: 50 });
    expect(local().spk).toEqual([4, 3]);
    expect(store.v2.signedPrekey(4)!.expires).toBe(T0 + 100 * DAY + 2 * P.rotateMs);
    expect(store.v2.signedPrekey(3)!.retiredAt).toBe(T0 + 100 * DAY);
    // Past that grace spk 3 is gone (spk 4, a period old by then, has rotated to spk 5 as well).
    maintainPrekeys(store, me, T0 + 100 * DAY + P.graceMs + 1, randomBytes, P, { opk: 100, kem: 50 });
    expect(local().spk).toEqual([5, 4]);
  });
  it('a grace shorter than the rotation never deletes a signed prekey before its own expiry (a sender may still take it from a bundle)', () => {
    const short = { ...P, graceMs: DAY };
    maintainPrekeys(store, me, T0, randomBytes, short); // spk 1 expires T0 + 14 d
    maintainPrekeys(store, me, T0 + P.rotateMs, randomBytes, short); // replaced at T0 + 7 d
    maintainPrekeys(store, me, T0 + P.rotateMs + DAY + 1, randomBytes, short); // past replaced + grace
    expect(local().spk).toEqual([2, 1]);
    maintainPrekeys(store, me, T0 + 2 * P.rotateMs, randomBytes, short); // its expiry: kept (spk 2 rotates)
    expect(local().spk).toEqual([3, 2, 1]);
    maintainPrekeys(store, me, T0 + 2 * P.rotateMs + 1, randomBytes, short);
    expect(local().spk).not.toContain(1);
  });
});

describe('the rotation and grace settings (src/cli/messaging.ts prekeyPolicy)', () => {
  const ctx = (prekeyRotation?: string): CommandContext => ({ global: prekeyRotation === undefined ? {} : { prekeyRotation } }) as unknown as CommandContext;
  const codeOf = (f: () => unknown): string => {
    try {
      f();
      return 'OK';
    } catch (e) {
      return (e as { code?: string }).code ?? String(e);
    }
  };

  it('--prekey-rotation wins over config signedPrekeyRotation; config signedPrekeyGrace sets the grace', () => {
    expect(prekeyPolicy(ctx(), {} as Config)).toEqual(P);
    expect(prekeyPolicy(ctx('12h'), { signedPrekeyRotation: '400d' } as Config).rotateMs).toBe(12 * 3600_000);
    expect(prekeyPolicy(ctx(), { signedPrekeyRotation: '30m', signedPrekeyGrace: '2d' } as Config)).toEqual({ ...P, rotateMs: 30 * 60_000, graceMs: 2 * DAY });
  });

  it('a duration outside 1 s..365 d, or not one, is BAD_PREKEY_ROTATION / BAD_PREKEY_GRACE', () => {
    for (const bad of ['0s', '999ms', '366d', 'soon', '-1d', '7 days']) {
      expect(
        codeOf(() => prekeyPolicy(ctx(bad), {} as Config)),
        bad,
      ).toBe('BAD_PREKEY_ROTATION');
      expect(
        codeOf(() => prekeyPolicy(ctx(), { signedPrekeyRotation: bad } as Config)),
        bad,
      ).toBe('BAD_PREKEY_ROTATION');
      expect(
        codeOf(() => prekeyPolicy(ctx(), { signedPrekeyGrace: bad } as Config)),
        bad,
      ).toBe('BAD_PREKEY_GRACE');
    }
    for (const ok of ['1s', '1000ms', '365d', '60'])
      expect(
        codeOf(() => prekeyPolicy(ctx(ok), { signedPrekeyGrace: ok } as Config)),
        ok,
      ).toBe('OK');
  });
});
