/**
 * The quarantine's bounds (docs/PROTOCOL.md §8.5), in process on a real SQLite file: per bucket,
 * in total and by age, with unauthenticated junk going first, so a flood of forged envelopes
 * cannot push out what an authenticated sender's key left (e.g. a contact's new key waiting for
 * `hush trust`). And the --quarantine-limits parser.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_QUARANTINE_LIMITS, HushStore, type QuarantineLimits } from '../../src/store/db.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { parseQuarantineLimits } from '../../src/cli/quarantine-limits.js';
import { key, removeHome, tempHome } from './store-helpers.js';

let home: string;
let store: HushStore;

beforeEach(() => {
  home = tempHome();
  store = HushStore.open(home, key());
});
afterEach(() => {
  store.close();
  removeHome(home);
});

const limits = (o: Partial<QuarantineLimits>): QuarantineLimits => ({ ...DEFAULT_QUARANTINE_LIMITS, ...o });

function put(o: { size?: number; auth?: Uint8Array; claimed?: Uint8Array; at?: number }, l: QuarantineLimits): { dropped: number; eid: string } {
  const env = randomBytes(o.size ?? 402);
  const eid = envelopeId(env);
  const claimed = o.claimed ?? o.auth;
  const r = store.quarantine(
    {
      eid,
      envelope: env,
      reason: o.auth ? 'KEY_CHANGED' : 'TAMPERED',
      receivedAt: o.at ?? Date.now(),
      ...(claimed ? { senderSignPk: claimed } : {}),
      ...(o.auth ? { bucketKey: o.auth } : {}),
    },
    l,
  );
  return { dropped: r.dropped, eid };
}

describe('quarantine bounds', () => {
  it('junk from many claimed keys shares one bucket and never pushes out an authenticated sender', () => {
    const l = limits({ perSender: 10, count: 25 });
    const newBob = randomBytes(32);
    const kept = Array.from({ length: 5 }, () => put({ auth: newBob }, l).eid);
    let dropped = 0;
    for (let i = 0; i < 500; i++) dropped += put({ claimed: randomBytes(32) }, l).dropped; // forged, each claiming another key
    expect(dropped).toBe(490);
    const all = store.listQuarantine();
    expect(all).toHaveLength(15);
    expect(store.listQuarantine({ senderSignPk: newBob }).map((q) => q.eid)).toEqual(kept);
  });

  it('bounds the total: unauthenticated entries go first, then the oldest of any bucket', () => {
    const l = limits({ perSender: 100, count: 6 });
    const a = randomBytes(32);
    const b = randomBytes(32);
    put({}, l);
    const a1 = put({ auth: a }, l).eid;
    put({ auth: a }, l);
    put({ auth: b }, l);
    put({}, l);
    put({ auth: b }, l);
    expect(store.listQuarantine()).toHaveLength(6);
    expect(put({ auth: b }, l).dropped).toBe(1); // an unauthenticated one
    expect(put({ auth: b }, l).dropped).toBe(1); // the other one
    expect(store.listQuarantine().filter((q) => q.reason === 'TAMPERED')).toHaveLength(0);
    expect(put({ auth: b }, l).dropped).toBe(1); // now the oldest overall: a's first
    expect(store.listQuarantine().map((q) => q.eid)).not.toContain(a1);
    expect(store.listQuarantine()).toHaveLength(6);
  });

  it('bounds bytes per bucket and in total', () => {
    const l = limits({ perSenderBytes: 3000, bytes: 5000 });
    const a = randomBytes(32);
    for (let i = 0; i < 5; i++) put({ auth: a, size: 1000 }, l);
    expect(store.listQuarantine()).toHaveLength(3); // 3 x 1000 <= 3000
    for (let i = 0; i < 5; i++) put({ auth: randomBytes(32), size: 1000 }, l);
    const sizes = store.listQuarantine().reduce((n, q) => n + q.envelope.length, 0);
    expect(sizes).toBeLessThanOrEqual(5000);
  });

  it('purges entries past the age limit', () => {
    const l = limits({ maxAgeMs: 60_000 });
    const now = Date.now();
    put({ at: now - 120_000 }, l);
    put({ auth: randomBytes(32), at: now - 90_000 }, l);
    expect(store.listQuarantine()).toHaveLength(2);
    expect(put({ at: now }, l).dropped).toBe(2);
    expect(store.listQuarantine()).toHaveLength(1);
  });
});

describe('--quarantine-limits', () => {
  it('parses any subset with units and keeps the defaults for the rest', () => {
    expect(parseQuarantineLimits(undefined)).toEqual(DEFAULT_QUARANTINE_LIMITS);
    expect(parseQuarantineLimits('count=10,bytes=2m,per-sender=3,per-sender-bytes=64k,age=2h')).toEqual({
      count: 10,
      bytes: 2 * 1024 * 1024,
      perSender: 3,
      perSenderBytes: 64 * 1024,
      maxAgeMs: 2 * 3600 * 1000,
    });
    expect(parseQuarantineLimits('age=7d').maxAgeMs).toBe(7 * 86_400_000);
  });

  it.each(['count', 'count=', 'count=0', 'colour=3', 'bytes=5x', 'age=5', 'count=-1'])('refuses %s with BAD_QUARANTINE_LIMITS', (spec) => {
    expect(() => parseQuarantineLimits(spec)).toThrow(expect.objectContaining({ code: 'BAD_QUARANTINE_LIMITS' }));
  });
});
