/**
 * The relay's frame handlers (relay/handlers.ts) and mailbox (relay/mailbox.ts) in process: a
 * fake Link records what each connection is sent, the store is a real SQLite file. The same
 * behaviour through a real relay process is in test/integration/relay-*.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes, signDetached } from '../../src/crypto/nacl.js';
import { tokenHash } from '../../src/protocol/delivery-token.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { transferSignedBytes } from '../../src/protocol/name-transfer.js';
import { authSignedBytes, encodeFrame, parseRelayFrame } from '../../src/protocol/frames.js';
import { bundleToJson } from '../../src/protocol/bundle.js';
import { makeBundle } from '../../src/crypto/bundle.js';
import { Bucket } from '../../relay/bucket.js';
import { DEFAULT_LIMITS, type RelayLimitsConfig } from '../../relay/config.js';
import { type Conn, createHandlers, type Handlers } from '../../relay/handlers.js';
import { Mailbox } from '../../relay/mailbox.js';
import type { Store } from '../../relay/store-api.js';
import { SqliteStore } from '../../relay/store-sqlite.js';
import { relayUrls } from '../../relay/urls.js';
import { Corking, type Link } from '../../relay/wire.js';
import { makeUser, seal, type User } from '../integration/helpers.js';

type Frame = Record<string, unknown>;

interface Fake {
  conn: Conn;
  /** Every frame sent to this connection (answers and pushes), parsed, in order. */
  frames: Frame[];
  closed?: { code: number; reason: string };
  last(): Frame;
}

let dir: string;
let store: SqliteStore;
let mailbox: Mailbox;
let handlers: Handlers;
let events: string[];
let closing: boolean;
let counter = 0;
/** What the handlers read as the data directory's free space (--min-free). */
let free = Infinity;
/** The store methods the handlers called, with `awaited` set up (the async path). */
let calls: string[] = [];

/**
 * The SQLite store without its synchronous twins (tokenNow, existsNow, registeredNow): the
 * handlers await every check, as they do on the Redis store. Records what is called.
 */
function awaitedOnly(s: SqliteStore): Store {
  return new Proxy(s, {
    get(target, k) {
      if (k === 'tokenNow' || k === 'existsNow' || k === 'registeredNow') return undefined;
      const v: unknown = Reflect.get(target, k, target);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]): unknown => {
        calls.push(String(k));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function setup(limits: Partial<RelayLimitsConfig> = {}, opts: { awaited?: boolean } = {}): void {
  dir = mkdtempSync(join(tmpdir(), 'hush-relay-unit-'));
  store = new SqliteStore(dir);
  events = [];
  closing = false;
  free = Infinity;
  calls = [];
  const seen = opts.awaited ? awaitedOnly(store) : store;
  mailbox = new Mailbox(seen, new Corking(), (name) => events.push(name), { ...DEFAULT_LIMITS, ...limits });
  handlers = createHandlers({
    limits: { ...DEFAULT_LIMITS, ...limits },
    urls: relayUrls('127.0.0.1', 7070),
    store: seen,
    mailbox,
    event: (name) => events.push(name),
    closing: () => closing,
    freeBytes: () => free,
  });
}

/** A fresh relay state (store, mailbox, handlers) with these limits. */
function restart(limits: Partial<RelayLimitsConfig> = {}, opts: { awaited?: boolean } = {}): void {
  void store.close();
  rmSync(dir, { recursive: true, force: true });
  setup(limits, opts);
}

function connect(): Fake {
  return connectFrom(undefined);
}

function connectFrom(addr: string | undefined): Fake {
  const fake = { frames: [] as Frame[] } as Fake;
  const link: Link = {
    send: (f) => void fake.frames.push(JSON.parse(typeof f === 'string' ? f : encodeFrame(f)) as Frame),
    sendBinary: () => undefined,
    batchTurn: () => undefined,
    push: (text) => {
      if (fake.closed) return false;
      fake.frames.push(JSON.parse(text) as Frame);
      return true;
    },
    close: (code, reason) => void (fake.closed = { code, reason }),
    terminate: () => void (fake.closed = { code: 1006, reason: '' }),
    ping: () => undefined,
    get isOpen() {
      return !fake.closed;
    },
    get isClosed() {
      return !!fake.closed;
    },
  };
  fake.conn = handlers.newConn(++counter, link, addr);
  fake.frames.push(JSON.parse(encodeFrame(handlers.hello(fake.conn))) as Frame);
  fake.last = () => fake.frames[fake.frames.length - 1]!;
  return fake;
}

/** Handles one frame and resolves with the last frame `f` got once it is answered (a durable send: once committed). */
async function frame(f: Fake, body: Frame): Promise<Frame> {
  await await handlers.onFrame(f.conn, JSON.stringify({ v: 1, ...body }));
  await turn();
  return f.last();
}

async function auth(f: Fake, u: User, over: { url?: string; signUrl?: string; time?: number } = {}): Promise<Frame> {
  const url = over.url ?? 'ws://127.0.0.1:7070';
  const time = over.time ?? Date.now();
  const sig = signDetached(authSignedBytes(f.conn.challenge, over.signUrl ?? url, time), u.id.signSk);
  return await frame(f, { t: 'auth', id: 'a1', signPk: toB64(u.id.signPk), url, time, sig: toB64(sig) });
}

function sendFrame(to: User, env: Uint8Array, id = 's1', ephemeral = false): Frame {
  return { t: 'send', id, to: toB64(to.id.signPk), env: toB64(env), eid: envelopeId(env), ...(ephemeral ? { ephemeral: true } : {}) };
}

/** Registers a delivery token for the mailbox authenticated on `f` (valid a minute); returns the token. */
async function giveToken(f: Fake): Promise<Uint8Array> {
  const t = randomBytes(32);
  expect(await frame(f, { t: 'tokens', id: 'gt', add: [{ h: toB64(tokenHash(t)), exp: Date.now() + 60_000 }], remove: [] })).toMatchObject({ t: 'ok' });
  return t;
}

/** An ephemeral (typing) send frame with a delivery token. */
function typingFrame(from: User, to: User, t: Uint8Array, id: string): Frame {
  return { ...sendFrame(to, seal(from, to, '', 'typing'), id, true), token: toB64(t) };
}

/** Registers `u` from a connection of its own (mail to unregistered keys is UNKNOWN_RECIPIENT). */
async function register(u: User, addr?: string): Promise<Frame> {
  const f = connectFrom(addr);
  await auth(f, u);
  const r = await frame(f, { t: 'register', id: 'reg', bundle: bundleToJson(u.bundle) });
  handlers.gone(f.conn);
  return r;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

beforeEach(() => setup());
afterEach(() => {
  void store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('relay handlers: hello and auth', () => {
  it('greets with a fresh 32-byte challenge, the main URL, every owned URL and the limits', async () => {
    const a = connect();
    const b = connect();
    const hello = a.frames[0]!;
    expect(hello).toMatchObject({ v: 1, t: 'hello', relay: 'ws://127.0.0.1:7070', urls: ['ws://127.0.0.1:7070', 'ws://localhost:7070', 'ws://[::1]:7070'] });
    expect(Buffer.from(String(hello.challenge), 'base64')).toHaveLength(32);
    expect(b.frames[0]!.challenge).not.toBe(hello.challenge);
    expect((hello.limits as Frame).maxFrameBytes).toBe(DEFAULT_LIMITS.maxFrameBytes);
  });

  it('accepts an auth for each URL the relay owns, in any spelling that canonicalises to it', async () => {
    for (const url of ['ws://127.0.0.1:7070', 'ws://localhost:7070', 'ws://[::1]:7070', 'WS://LOCALHOST:7070/']) {
      const f = connect();
      expect(await auth(f, makeUser(), { url, signUrl: url.toLowerCase().replace(/\/$/, '') })).toEqual({ v: 1, t: 'ok', id: 'a1', waiting: 0 });
      expect(f.conn.signPk).toBeDefined();
    }
  });

  it('refuses an auth for a URL it does not own, stale, or signed over another URL (a forwarded challenge), changing nothing', async () => {
    const u = makeUser();
    const cases: [Partial<{ url: string; signUrl: string; time: number }>, string][] = [
      [{ url: 'ws://127.0.0.1:7071' }, 'AUTH_WRONG_URL'],
      [{ url: 'ws://evil.example:7070' }, 'AUTH_WRONG_URL'],
      [{ url: 'not a url' }, 'AUTH_WRONG_URL'],
      [{ time: Date.now() - DEFAULT_LIMITS.authSkewMs - 60_000 }, 'AUTH_STALE'],
      // a relay at ws://evil.example obtained this signature and presents it here, claiming our URL
      [{ url: 'ws://127.0.0.1:7070', signUrl: 'ws://evil.example:7070' }, 'AUTH_FAILED'],
    ];
    for (const [over, code] of cases) {
      const f = connect();
      expect(await auth(f, u, over)).toMatchObject({ t: 'error', id: 'a1', code });
      expect(f.closed).toEqual({ code: 1008, reason: code });
      expect(f.conn.signPk).toBeUndefined();
      expect(mailbox.online.size).toBe(0);
    }
  });

  it('answers ping before auth, refuses everything else with AUTH_REQUIRED, and a second auth with CHALLENGE_USED', async () => {
    const f = connect();
    expect(await frame(f, { t: 'ping', id: 'p' })).toMatchObject({ t: 'pong', id: 'p' });
    expect(await frame(f, { t: 'pull', id: 'q' })).toMatchObject({ t: 'error', id: 'q', code: 'AUTH_REQUIRED' });
    const u = makeUser();
    await auth(f, u);
    expect(await auth(f, u)).toMatchObject({ t: 'error', code: 'CHALLENGE_USED' });
    expect(f.closed).toBeUndefined();
  });

  it('refuses binary frames and, while closing, every frame', async () => {
    const f = connect();
    await handlers.onFrame(f.conn, undefined);
    expect(f.last()).toMatchObject({ t: 'error', code: 'BAD_FRAME' });
    closing = true;
    expect(await frame(f, { t: 'ping', id: 'p' })).toMatchObject({ t: 'error', id: 'p', code: 'SHUTTING_DOWN' });
  });
});

describe('relay handlers: directory', () => {
  it('registers first-come, looks up by name and key, refuses a taken name', async () => {
    const alice = makeUser('alice-unit');
    const fa = connect();
    await auth(fa, alice);
    expect(await frame(fa, { t: 'register', id: 'r', bundle: bundleToJson(alice.bundle) })).toEqual({ v: 1, t: 'ok', id: 'r' });
    expect(await frame(fa, { t: 'lookup', id: 'l', name: 'alice-unit' })).toMatchObject({ t: 'bundle', bundle: { name: 'alice-unit', signPk: toB64(alice.id.signPk) } });
    expect(await frame(fa, { t: 'lookup', id: 'k', signPk: toB64(alice.id.signPk) })).toMatchObject({ t: 'bundle' });
    expect(await frame(fa, { t: 'lookup', id: 'n', name: 'nobody' })).toMatchObject({ t: 'error', code: 'NOT_FOUND' });
    const mallory = makeUser('alice-unit');
    const fm = connect();
    await auth(fm, mallory);
    expect(await frame(fm, { t: 'register', id: 'r', bundle: bundleToJson(mallory.bundle) })).toMatchObject({ t: 'error', code: 'NAME_TAKEN' });
    expect(await frame(fm, { t: 'register', id: 'r2', bundle: bundleToJson(alice.bundle) })).toMatchObject({ t: 'error', code: 'BAD_BUNDLE' });
  });

  it('releases a name only for the key that holds it; then anyone may claim it', async () => {
    const alice = makeUser('rel-unit');
    const mallory = makeUser('rel-unit');
    const fa = connect();
    const fm = connect();
    const fx = connect();
    expect(await frame(fx, { t: 'release', id: 'x', name: 'rel-unit' })).toMatchObject({ t: 'error', code: 'AUTH_REQUIRED' });
    await auth(fa, alice);
    await auth(fm, mallory);
    expect(await frame(fa, { t: 'release', id: 'n', name: 'rel-unit' })).toMatchObject({ t: 'error', id: 'n', code: 'NOT_FOUND' });
    expect(await frame(fa, { t: 'register', id: 'r', bundle: bundleToJson(alice.bundle) })).toEqual({ v: 1, t: 'ok', id: 'r' });
    // Another key cannot release it, and a malformed name is a bad frame: nothing changes.
    expect(await frame(fm, { t: 'release', id: 'm', name: 'rel-unit' })).toMatchObject({ t: 'error', id: 'm', code: 'NAME_TAKEN' });
    expect(await frame(fm, { t: 'release', id: 'b', name: 'Rel Unit' })).toMatchObject({ t: 'error', id: 'b', code: 'BAD_FRAME' });
    expect(await frame(fm, { t: 'release', id: 'c' })).toMatchObject({ t: 'error', id: 'c', code: 'BAD_FRAME' });
    expect(await frame(fa, { t: 'lookup', id: 'l', name: 'rel-unit' })).toMatchObject({ t: 'bundle', bundle: { signPk: toB64(alice.id.signPk) } });
    // The holder releases it: gone by name and by key; the name is free for another key.
    expect(await frame(fa, { t: 'release', id: 'ok', name: 'rel-unit' })).toEqual({ v: 1, t: 'ok', id: 'ok' });
    expect(events).toContain('release');
    expect(await frame(fa, { t: 'lookup', id: 'l2', name: 'rel-unit' })).toMatchObject({ t: 'error', code: 'NOT_FOUND' });
    expect(await frame(fa, { t: 'lookup', id: 'k2', signPk: toB64(alice.id.signPk) })).toMatchObject({ t: 'error', code: 'NOT_FOUND' });
    expect(await frame(fa, { t: 'release', id: 'again', name: 'rel-unit' })).toMatchObject({ t: 'error', code: 'NOT_FOUND' });
    expect(await frame(fm, { t: 'register', id: 'r', bundle: bundleToJson(mallory.bundle) })).toEqual({ v: 1, t: 'ok', id: 'r' });
  });
});

describe('relay handlers and mailbox: send, push, pull, ack', () => {
  it('answers accepted only after the group commit, pushes to every online connection of the recipient, and pull/ack work', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await register(bob);
    const fa = connect();
    await auth(fa, alice);
    const fb1 = connect();
    await auth(fb1, bob);
    const fb2 = connect();
    await auth(fb2, bob);
    const env = seal(alice, bob, 'hello bob');
    const before = fa.frames.length;
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, env) }));
    expect(fa.frames).toHaveLength(before); // not yet committed
    expect(mailbox.pending).toBe(1);
    await turn();
    expect(fa.last()).toEqual({ v: 1, t: 'accepted', id: 's1', eid: envelopeId(env), stored: true, delivered: 2 });
    for (const fb of [fb1, fb2]) expect(fb.last()).toMatchObject({ t: 'push', eid: envelopeId(env), env: toB64(env) });
    const seq = fb1.last().seq as number;
    expect(seq).toBeGreaterThan(0);

    // a resend is accepted and stored once
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, env, 's2') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', id: 's2', stored: true, delivered: 0 });
    const mail = await frame(fb1, { t: 'pull', id: 'p' });
    expect(mail).toMatchObject({ t: 'mail', more: false, items: [{ seq, eid: envelopeId(env), env: toB64(env) }] });
    expect(store.db.stats(bob.id.signPk)).toEqual({ count: 1, bytes: env.length });
    expect(await frame(fb1, { t: 'ack', id: 'k', eids: [envelopeId(env)] })).toEqual({ v: 1, t: 'ok', id: 'k', deleted: 1 });
    expect(store.db.stats(bob.id.signPk)).toEqual({ count: 0, bytes: 0 });
    expect(await frame(fb2, { t: 'pull', id: 'p2' })).toMatchObject({ items: [] });
  });

  it("answers an owner's auth with how much mail waits in its mailbox (waiting), and only its own", async () => {
    const alice = makeUser();
    const bob = makeUser();
    await register(bob);
    const fa = connect();
    await auth(fa, alice);
    for (const [i, text] of ['one', 'two'].entries()) await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, seal(alice, bob, text), `w${i}`) }));
    await turn();
    expect(await auth(connect(), bob)).toEqual({ v: 1, t: 'ok', id: 'a1', waiting: 2 });
    expect(await auth(connect(), alice)).toEqual({ v: 1, t: 'ok', id: 'a1', waiting: 0 });
    // The client reads it, and an older relay's answer without it.
    expect(parseRelayFrame('{"v":1,"t":"ok","id":"a1","waiting":2}')).toMatchObject({ ok: true, frame: { waiting: 2 } });
    const old = parseRelayFrame('{"v":1,"t":"ok","id":"a1"}');
    expect(old.ok && 'waiting' in old.frame).toBe(false);
    expect(parseRelayFrame('{"v":1,"t":"ok","id":"a1","waiting":-1}')).toMatchObject({ ok: false });
  });

  it('pushes an ephemeral envelope with a delivery token at once and never stores it; without a token it is TOKEN_REQUIRED', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await register(bob);
    const fa = connect();
    await auth(fa, alice);
    const fb = connect();
    await auth(fb, bob);
    const env = seal(alice, bob, 'typing', 'typing');
    expect(await frame(fa, sendFrame(bob, env, 'e0', true))).toMatchObject({ t: 'error', id: 'e0', code: 'TOKEN_REQUIRED' });
    expect(fb.frames.some((f) => f.t === 'push')).toBe(false);
    const t = await giveToken(fb);
    expect(await frame(fa, { ...sendFrame(bob, env, 'e', true), token: toB64(t) })).toMatchObject({ t: 'accepted', stored: false, delivered: 1 });
    expect(fb.frames.some((f) => f.t === 'push' && f.seq === 0 && f.ephemeral === true)).toBe(true);
    expect(mailbox.pending).toBe(0);
    expect(await frame(fb, { t: 'pull', id: 'p' })).toMatchObject({ items: [] });
  });

  it('refuses past the mailbox quota (MAILBOX_FULL) and past the send rate (RATE_LIMITED), storing nothing', async () => {
    void store.close();
    rmSync(dir, { recursive: true, force: true });
    setup({ mailboxMaxCount: 1, sendRatePerConn: 2, strangerSharePercent: 100 });
    const alice = makeUser();
    const bob = makeUser();
    await register(bob);
    const fa = connect();
    await auth(fa, alice);
    const first = seal(alice, bob, 'one');
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, first, 's1') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', stored: true });
    expect(await frame(fa, sendFrame(bob, seal(alice, bob, 'two'), 's2'))).toMatchObject({ t: 'error', id: 's2', code: 'MAILBOX_FULL' });
    expect(await frame(fa, sendFrame(bob, first, 's3'))).toMatchObject({ t: 'error', id: 's3', code: 'RATE_LIMITED' });
    expect(store.db.stats(bob.id.signPk)).toEqual({ count: 1, bytes: first.length });
  });

  it('refuses an envelope whose eid does not match (BAD_ENVELOPE)', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await register(bob);
    const fa = connect();
    await auth(fa, alice);
    const f = sendFrame(bob, seal(alice, bob, 'x'));
    expect(await frame(fa, { ...f, eid: '0'.repeat(32) })).toMatchObject({ t: 'error', code: 'BAD_ENVELOPE' });
  });

  it('forgets a closed connection: no pushes reach it', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await register(bob);
    const fa = connect();
    await auth(fa, alice);
    const fb = connect();
    await auth(fb, bob);
    handlers.gone(fb.conn);
    expect(mailbox.online.has(toB64(bob.id.signPk))).toBe(false);
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, seal(alice, bob, 'later')) }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', stored: true, delivered: 0 });
  });
});

describe('token bucket', () => {
  it('holds one second of tokens and refills continuously', async () => {
    const b = new Bucket(4);
    const t0 = Date.now();
    expect([1, 2, 3, 4, 5].map(() => b.take(t0))).toEqual([true, true, true, true, false]);
    expect(b.full(t0)).toBe(false);
    expect(b.take(t0 + 250)).toBe(true); // a quarter second refills one token
    expect(b.take(t0 + 250)).toBe(false);
    expect(b.full(t0 + 1250)).toBe(true);
  });

  it('grants the first token of a fresh bucket of rate 1 for a time read before it was made', async () => {
    const before = Date.now() - 5; // a handler reads the clock, then makes the bucket
    const b = new Bucket(1);
    expect(b.take(before)).toBe(true);
    expect(b.take(before)).toBe(false);
    expect(b.take(before + 1000)).toBe(false); // elapsed is counted from the bucket's own start
    expect(b.take(Date.now() + 2000)).toBe(true);
  });
});

describe('relay handlers: quotas that need no token', () => {
  it('refuses mail to a key nobody registered (UNKNOWN_RECIPIENT) and identified ephemerals (TOKEN_REQUIRED), storing nothing; accepts once it registers', async () => {
    const alice = makeUser();
    const bob = makeUser();
    const fa = connect();
    await auth(fa, alice);
    expect(await frame(fa, sendFrame(bob, seal(alice, bob, 'to nobody'), 's1'))).toMatchObject({ t: 'error', id: 's1', code: 'UNKNOWN_RECIPIENT' });
    expect(await frame(fa, sendFrame(bob, seal(alice, bob, '', 'typing'), 'e1', true))).toMatchObject({ t: 'error', id: 'e1', code: 'TOKEN_REQUIRED' });
    expect(mailbox.pending).toBe(0);
    expect(store.db.stats(bob.id.signPk)).toEqual({ count: 0, bytes: 0 });
    expect(await register(bob)).toMatchObject({ t: 'ok' });
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, seal(alice, bob, 'now'), 's2') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', id: 's2', stored: true });
    // The registered keys are read from the store at start: a restarted relay still knows bob.
    void store.close();
    store = new SqliteStore(dir);
    mailbox = new Mailbox(store, new Corking(), () => undefined, DEFAULT_LIMITS);
    handlers = createHandlers({ limits: DEFAULT_LIMITS, urls: relayUrls('127.0.0.1', 7070), store, mailbox, event: () => undefined, closing: () => false });
    const fa2 = connect();
    await auth(fa2, alice);
    await handlers.onFrame(fa2.conn, JSON.stringify({ v: 1, ...sendFrame(bob, seal(alice, bob, 'after restart'), 's3') }));
    await turn();
    expect(fa2.last()).toMatchObject({ t: 'accepted', id: 's3', stored: true });
    expect(await store.totalBytes()).toBe(store.db.stats(bob.id.signPk).bytes);
  });

  it('limits register frames per connection (--register-conn) with REGISTER_LIMITED', async () => {
    restart({ registerPerConn: 2 });
    const u = makeUser('reg-conn');
    const f = connect();
    await auth(f, u);
    const reg = async (id: string): Promise<Frame> => await frame(f, { t: 'register', id, bundle: bundleToJson(u.bundle) });
    expect(await reg('r1')).toMatchObject({ t: 'ok' });
    expect(await reg('r2')).toMatchObject({ t: 'ok' });
    expect(await reg('r3')).toMatchObject({ t: 'error', id: 'r3', code: 'REGISTER_LIMITED' });
    expect(f.closed).toBeUndefined();
    // A new connection has its own count.
    expect(await register(u)).toMatchObject({ t: 'ok' });
  });

  it('limits name changes per identity in 24 hours (--renames-per-day); registering the same name again is no change', async () => {
    restart({ renamesPerDay: 1 });
    const u = makeUser('first-name');
    expect(await register(u)).toMatchObject({ t: 'ok' }); // the first name is not a change
    const again = async (name: string, created: number): Promise<Frame> => {
      const f = connect();
      await auth(f, u);
      return await frame(f, { t: 'register', id: 'r', bundle: bundleToJson(makeBundle(u.id, name, created)) });
    };
    expect(await again('second-name', Date.now() + 1)).toMatchObject({ t: 'ok' });
    expect(await again('third-name', Date.now() + 2)).toMatchObject({ t: 'error', code: 'REGISTER_LIMITED' });
    expect(await again('second-name', Date.now() + 3)).toMatchObject({ t: 'ok' });
    expect(await store.lookupName('third-name')).toBeUndefined();
    expect(await store.lookupName('second-name')).toBeDefined();
  });

  it('limits new names per remote address per hour (--names-per-addr); IPv4-mapped and one IPv6 /64 count as one address', async () => {
    restart({ namesPerAddrHour: 2 });
    expect(await register(makeUser('addr-a1'), '10.0.0.1')).toMatchObject({ t: 'ok' });
    expect(await register(makeUser('addr-a2'), '::ffff:10.0.0.1')).toMatchObject({ t: 'ok' });
    expect(await register(makeUser('addr-a3'), '10.0.0.1')).toMatchObject({ t: 'error', code: 'REGISTER_LIMITED' });
    expect(await store.lookupName('addr-a3')).toBeUndefined();
    expect(await register(makeUser('addr-b1'), '10.0.0.2')).toMatchObject({ t: 'ok' });
    expect(await register(makeUser('addr-c1'), '2001:db8:1:2::5')).toMatchObject({ t: 'ok' });
    expect(await register(makeUser('addr-c2'), '2001:db8:1:2:aaaa::9')).toMatchObject({ t: 'ok' });
    expect(await register(makeUser('addr-c3'), '2001:0db8:0001:0002:ffff::1')).toMatchObject({ t: 'error', code: 'REGISTER_LIMITED' });
    expect(await register(makeUser('addr-d1'), '2001:db8:1:3::5')).toMatchObject({ t: 'ok' });
  });

  it('refuses sends past --max-store-bytes and under --min-free free space (STORE_FULL), storing nothing; an ack frees room', async () => {
    const alice = makeUser();
    const bob = makeUser();
    const carol = makeUser();
    const one = seal(alice, bob, 'one');
    restart({ maxStoreBytes: one.length + 10 });
    await register(bob);
    await register(carol);
    const fa = connect();
    await auth(fa, alice);
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, one, 's1') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', stored: true });
    expect(await frame(fa, sendFrame(carol, seal(alice, carol, 'two'), 's2'))).toMatchObject({ t: 'error', id: 's2', code: 'STORE_FULL' });
    expect(await frame(fa, sendFrame(bob, one, 's3'))).toMatchObject({ t: 'accepted', id: 's3', stored: true }); // a resend of stored mail
    expect(store.db.stats(carol.id.signPk)).toEqual({ count: 0, bytes: 0 });
    const fb = connect();
    await auth(fb, bob);
    await frame(fb, { t: 'ack', id: 'k', eids: [envelopeId(one)] });
    expect(await store.totalBytes()).toBe(0);
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(carol, seal(alice, carol, 'two'), 's4') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', id: 's4' });

    restart({ minFreeBytes: 1024 * 1024 });
    await register(bob);
    const fa2 = connect();
    await auth(fa2, alice);
    free = 1024 * 1024 + 100; // less than the floor once the envelope is written
    expect(await frame(fa2, sendFrame(bob, seal(alice, bob, 'x'), 's5'))).toMatchObject({ t: 'error', code: 'STORE_FULL' });
    expect(await register(makeUser('late-name'))).toMatchObject({ t: 'ok' }); // a bundle still fits above the floor
    free = 1024 * 1024 - 1;
    expect(await register(makeUser('later-name'))).toMatchObject({ t: 'error', code: 'STORE_FULL' });
    expect(await store.lookupName('later-name')).toBeUndefined();
    expect(store.db.stats(bob.id.signPk).count).toBe(0);
  });

  it('answers STORE_FULL, not INTERNAL, when the disk fills during a commit, and keeps serving', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await register(bob);
    const fa = connect();
    await auth(fa, alice);
    const insert = store.insertBatch.bind(store);
    store.insertBatch = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, seal(alice, bob, 'x'), 's1') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'error', id: 's1', code: 'STORE_FULL' });
    expect(await store.totalBytes()).toBe(0);
    store.insertBatch = insert;
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, seal(alice, bob, 'y'), 's2') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', id: 's2' });
  });

  it('limits ephemeral sends per (token, recipient) pair (--ephemeral-rate); other pairs and stored mail are not affected', async () => {
    restart({ ephemeralRatePerPair: 2 });
    const alice = makeUser();
    const bob = makeUser();
    const carol = makeUser();
    await register(bob);
    await register(carol);
    const fb = connect();
    await auth(fb, bob);
    const fc = connect();
    await auth(fc, carol);
    const tb = await giveToken(fb);
    const tc = await giveToken(fc);
    const fa = connect();
    await auth(fa, alice);
    const answers: Frame[] = [];
    for (const i of [1, 2, 3, 4, 5]) answers.push(await frame(fa, typingFrame(alice, bob, tb, `e${i}`)));
    expect(answers.filter((a) => a.t === 'accepted').length).toBeGreaterThanOrEqual(1);
    expect(answers.filter((a) => a.t === 'accepted').length).toBeLessThanOrEqual(3);
    expect(answers.filter((a) => a.code === 'RATE_LIMITED').length).toBeGreaterThanOrEqual(2);
    expect(await frame(fa, typingFrame(alice, carol, tc, 'c1'))).toMatchObject({ t: 'accepted', stored: false });
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(bob, seal(alice, bob, 'real'), 'm1') }));
    expect(mailbox.pending).toBe(1);
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', id: 'm1', stored: true });
  });
});

describe('relay handlers: delivery tokens (sealed sender) and the stranger quota', () => {
  const token = (): Uint8Array => randomBytes(32);
  const reg = async (f: Fake, add: { t: Uint8Array; exp: number }[], remove: Uint8Array[] = [], id = 'k1'): Promise<Frame> =>
    await frame(f, { t: 'tokens', id, add: add.map((a) => ({ h: toB64(tokenHash(a.t)), exp: a.exp })), remove: remove.map((t) => toB64(tokenHash(t))) });
  const tokenSend = (to: User, env: Uint8Array, t: Uint8Array, id = 's1'): Frame => ({ ...sendFrame(to, env, id), token: toB64(t) });

  it('a send with a registered token needs no auth, stores nothing about the sender and is pushed to the owner', async () => {
    const bob = makeUser();
    const alice = makeUser();
    await register(bob); // mail goes only to registered keys
    const fb = connect();
    await auth(fb, bob);
    const t = token();
    expect(await reg(fb, [{ t, exp: Date.now() + 60_000 }])).toMatchObject({ t: 'ok', id: 'k1', tokens: 1 });
    const anon = connect(); // never authenticates
    const env = seal(alice, bob, 'sealed hi');
    await frame(anon, tokenSend(bob, env, t));
    await turn();
    expect(anon.last()).toMatchObject({ t: 'accepted', eid: envelopeId(env), stored: true, delivered: 1 });
    expect(fb.last()).toMatchObject({ t: 'push', eid: envelopeId(env) });
    expect(anon.conn.signPk).toBeUndefined();
    // Without a token the same unauthenticated connection may only ping, look up and auth.
    expect(await frame(anon, sendFrame(bob, seal(alice, bob, 'x'), 's2'))).toMatchObject({ t: 'error', id: 's2', code: 'AUTH_REQUIRED' });
    expect(await frame(anon, { t: 'pull', id: 'q' })).toMatchObject({ t: 'error', code: 'AUTH_REQUIRED' });
    expect(await frame(anon, { t: 'tokens', id: 'k', add: [] })).toMatchObject({ t: 'error', code: 'AUTH_REQUIRED' });
  });

  it('refuses TOKEN_INVALID for an unknown, expired, removed or other-mailbox token, and stores nothing', async () => {
    const bob = makeUser();
    const carol = makeUser();
    await register(bob);
    await register(carol);
    const fb = connect();
    await auth(fb, bob);
    const live = token();
    const removed = token();
    const unknown = token();
    await reg(fb, [
      { t: live, exp: Date.now() + 60_000 },
      { t: removed, exp: Date.now() + 60_000 },
    ]);
    await reg(fb, [], [removed], 'k2');
    const anon = connect();
    for (const [to, t] of [
      [bob, removed],
      [bob, unknown],
      [carol, live],
    ] as const) {
      expect(await frame(anon, tokenSend(to, seal(carol, to, 'x'), t))).toMatchObject({ t: 'error', code: 'TOKEN_INVALID' });
    }
    // An expired token: registered with an expiry in the past, it is never kept.
    const old = token();
    expect(await reg(fb, [{ t: old, exp: Date.now() - 1 }], [], 'k3')).toMatchObject({ t: 'ok', tokens: 1 });
    expect(await frame(anon, tokenSend(bob, seal(carol, bob, 'x'), old))).toMatchObject({ t: 'error', code: 'TOKEN_INVALID' });
    await turn();
    expect(store.db.stats(bob.id.signPk).count).toBe(0);
    expect(events.filter((e) => e === 'token-refused')).toHaveLength(4);
  });

  it('clamps a token expiry to --token-max-lifetime and refuses more than --tokens-per-mailbox', async () => {
    void store.close();
    rmSync(dir, { recursive: true, force: true });
    setup({ tokensPerMailbox: 2, tokenMaxLifetimeMs: 10_000 });
    const bob = makeUser();
    const fb = connect();
    await auth(fb, bob);
    const t = token();
    await reg(fb, [{ t, exp: Date.now() + 365 * 86_400_000 }]);
    expect((await store.token(tokenHash(t)))!.exp).toBeLessThanOrEqual(Date.now() + 10_000);
    await reg(fb, [{ t: token(), exp: Date.now() + 5000 }], [], 'k2');
    expect(await reg(fb, [{ t: token(), exp: Date.now() + 5000 }], [], 'k3')).toMatchObject({ t: 'error', id: 'k3', code: 'TOO_MANY_TOKENS' });
  });

  it('an identified sender fills its stranger share, then gets STRANGER_QUOTA; a token send still gets in; an ack frees the share', async () => {
    void store.close();
    rmSync(dir, { recursive: true, force: true });
    setup({ strangerMaxCount: 2 });
    const bob = makeUser();
    const mallory = makeUser();
    const alice = makeUser();
    await register(bob);
    const fb = connect();
    await auth(fb, bob);
    const t = token();
    await reg(fb, [{ t, exp: Date.now() + 60_000 }]);
    const fm = connect();
    await auth(fm, mallory);
    const envs = [seal(mallory, bob, 'junk 1'), seal(mallory, bob, 'junk 2')];
    await frame(fm, sendFrame(bob, envs[0]!, 'm1'));
    await frame(fm, sendFrame(bob, envs[1]!, 'm2'));
    await turn();
    expect(fm.last()).toMatchObject({ t: 'accepted', id: 'm2' });
    expect(await frame(fm, sendFrame(bob, seal(mallory, bob, 'junk 3'), 'm3'))).toMatchObject({ t: 'error', id: 'm3', code: 'STRANGER_QUOTA' });
    // A resend of an envelope already waiting is not a new one.
    await frame(fm, sendFrame(bob, envs[0]!, 'm1b'));
    await turn();
    expect(fm.last()).toMatchObject({ t: 'accepted', id: 'm1b' });
    const anon = connect();
    await frame(anon, tokenSend(bob, seal(alice, bob, 'from a contact'), t, 'a1'));
    await turn();
    expect(anon.last()).toMatchObject({ t: 'accepted', id: 'a1', stored: true });
    await frame(fb, { t: 'ack', id: 'ack1', eids: [envelopeId(envs[0]!)] });
    await frame(fm, sendFrame(bob, seal(mallory, bob, 'junk 4'), 'm4'));
    await turn();
    expect(fm.last()).toMatchObject({ t: 'accepted', id: 'm4' });
  });
  it("forgets a token it has used as soon as its mailbox writes it: removed, refused; added again, accepted; claimed by another mailbox, still the first one's; re-dated, the new expiry; purged, refused", async () => {
    const bob = makeUser();
    const carol = makeUser();
    const alice = makeUser();
    await register(bob);
    await register(carol);
    const fb = connect();
    await auth(fb, bob);
    const t = await giveToken(fb);
    const anon = connect();
    const send = async (to: User, id: string): Promise<Frame> => {
      const r = await frame(anon, tokenSend(to, seal(alice, to, id), t, id));
      await turn();
      return r.t === 'error' ? r : anon.last();
    };
    expect(await send(bob, 's1')).toMatchObject({ t: 'accepted', id: 's1' }); // read from the table, then kept
    expect(await reg(fb, [], [t], 'k2')).toMatchObject({ t: 'ok', tokens: 0 });
    expect(await send(bob, 's2')).toMatchObject({ t: 'error', id: 's2', code: 'TOKEN_INVALID' });
    expect(await reg(fb, [{ t, exp: Date.now() + 60_000 }], [], 'k3')).toMatchObject({ t: 'ok', tokens: 1 });
    expect(await send(bob, 's3')).toMatchObject({ t: 'accepted', id: 's3' });
    const fc = connect();
    await auth(fc, carol);
    expect(await reg(fc, [{ t, exp: Date.now() + 60_000 }], [], 'k4')).toMatchObject({ t: 'ok', tokens: 0 }); // bob's hash: left alone
    expect(await send(carol, 's4')).toMatchObject({ t: 'error', id: 's4', code: 'TOKEN_INVALID' });
    expect(await send(bob, 's5')).toMatchObject({ t: 'accepted', id: 's5' });
    await reg(fb, [{ t, exp: Date.now() + 5000 }], [], 'k5'); // re-dated: what the relay reads is the new expiry
    expect((await store.token(tokenHash(t)))!.exp).toBeLessThanOrEqual(Date.now() + 5000);
    expect(await store.purgeTokens(Date.now() + 120_000)).toBe(1); // as the purge timer does once it expired
    expect(await send(bob, 's6')).toMatchObject({ t: 'error', id: 's6', code: 'TOKEN_INVALID' });
    expect(store.db.stats(bob.id.signPk).count).toBe(3);
  });

  for (const awaited of [false, true]) {
    it(`answers one connection's frames in arrival order, ${awaited ? 'every store check awaited (as on Redis)' : 'the SQLite store answering at once'}; a resend under --min-free is accepted, a new envelope STORE_FULL`, async () => {
      restart({}, { awaited });
      const bob = makeUser('bob');
      const alice = makeUser();
      await register(bob);
      const fb = connect();
      await auth(fb, bob);
      const t = await giveToken(fb);
      const anon = connect();
      const env = seal(alice, bob, 'in order');
      // Sent without waiting for answers: a lookup (the store answers later), a send with an
      // unknown token (refused), a ping, a good token send (accepted at the group commit), a ping.
      const sent = [
        { t: 'lookup', id: 'l1', name: 'bob' },
        tokenSend(bob, seal(alice, bob, 'x'), token(), 's1'),
        { t: 'ping', id: 'p1' },
        tokenSend(bob, env, t, 's2'),
        { t: 'ping', id: 'p2' },
      ].map((f) => handlers.onFrame(anon.conn, JSON.stringify({ v: 1, ...f })));
      await Promise.all(sent);
      await turn();
      expect(anon.frames.slice(1).map((f) => `${String(f.t)} ${String(f.id)}`)).toEqual(['bundle l1', 'error s1', 'pong p1', 'pong p2', 'accepted s2']);
      expect(fb.last()).toMatchObject({ t: 'push', eid: envelopeId(env) });
      free = 0; // under the floor: only mail already stored is accepted (found by the store's exists)
      expect(await frame(anon, tokenSend(bob, env, t, 's3'))).toMatchObject({ t: 'accepted', id: 's3', stored: true, delivered: 0 });
      expect(await frame(anon, tokenSend(bob, seal(alice, bob, 'y'), t, 's4'))).toMatchObject({ t: 'error', id: 's4', code: 'STORE_FULL' });
      expect(store.db.stats(bob.id.signPk).count).toBe(1);
      if (awaited) for (const m of ['token', 'isRegistered', 'exists', 'insertBatch']) expect(calls).toContain(m);
      else expect(calls).toEqual([]);
    });
  }

  it('identified senders together fill at most --stranger-share of a mailbox; token sends still get in up to the mailbox quota', async () => {
    restart({ mailboxMaxCount: 10, strangerMaxCount: 2, strangerSharePercent: 50 });
    const bob = makeUser();
    await register(bob);
    const fb = connect();
    await auth(fb, bob);
    const t = await giveToken(fb);
    expect(fb.frames[0]).toMatchObject({ t: 'hello', limits: { strangerShareCount: 5 } });
    // Six throwaway keys, two envelopes each: the share (5 of 10) stops them, whoever sends.
    const codes: string[] = [];
    for (let i = 0; i < 6; i++) {
      const m = makeUser();
      const fm = connect();
      await auth(fm, m);
      for (const n of [1, 2]) {
        const r = await frame(fm, sendFrame(bob, seal(m, bob, `junk ${i}.${n}`), `m${i}.${n}`));
        await turn();
        codes.push(String(r.t === 'error' ? r.code : fm.last().t));
      }
    }
    expect(codes.filter((c) => c === 'accepted')).toHaveLength(5);
    expect(codes.filter((c) => c === 'STRANGER_QUOTA')).toHaveLength(7);
    expect(store.db.stats(bob.id.signPk).count).toBe(5);
    // A contact's token sends fill the rest of the mailbox, then MAILBOX_FULL.
    const alice = makeUser();
    const anon = connect();
    const got: string[] = [];
    for (let n = 0; n < 6; n++) {
      const r = await frame(anon, tokenSend(bob, seal(alice, bob, `contact ${n}`), t, `a${n}`));
      await turn();
      got.push(String(r.t === 'error' ? r.code : anon.last().t));
    }
    expect(got).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted', 'MAILBOX_FULL']);
  });
});

describe('relay handlers: name transfer', () => {
  it('moves a name to the key the holder signed it over to, in one step; refuses forged transfers and names the signer does not hold', async () => {
    const old = makeUser('zoe');
    const next = makeUser('zoe');
    const mallory = makeUser('zoe');
    expect(await register(old)).toMatchObject({ t: 'ok' });
    const sig = signDetached(transferSignedBytes('zoe', old.id.signPk, next.id.signPk), old.id.signSk);
    const transfer = async (f: Fake, u: User, s: Uint8Array, id: string): Promise<Frame> =>
      frame(f, { t: 'transfer', id, bundle: bundleToJson(u.bundle), from: toB64(old.id.signPk), sig: toB64(s) });
    // mallory presents the statement made for next: it names next's key, not hers
    const fm = connect();
    await auth(fm, mallory);
    expect(await transfer(fm, mallory, sig, 'm1')).toMatchObject({ t: 'error', id: 'm1', code: 'BAD_TRANSFER' });
    const fn = connect();
    await auth(fn, next);
    const forged = Uint8Array.from(sig);
    forged[5]! ^= 1;
    expect(await transfer(fn, next, forged, 't0')).toMatchObject({ t: 'error', id: 't0', code: 'BAD_TRANSFER' });
    expect(store.db.lookupName('zoe')!.signPk).toEqual(old.id.signPk);
    expect(await transfer(fn, next, sig, 't1')).toMatchObject({ t: 'ok', id: 't1' });
    expect(store.db.lookupName('zoe')!.signPk).toEqual(next.id.signPk);
    expect(store.db.lookupKey(old.id.signPk)).toBeUndefined();
    expect(await transfer(fn, next, sig, 't2')).toMatchObject({ t: 'ok', id: 't2' }); // again: nothing changes
    // the old key takes no mail now; the new one does
    const fa = connect();
    await auth(fa, mallory);
    expect(await frame(fa, sendFrame(old, seal(mallory, old, 'x'), 's1'))).toMatchObject({ t: 'error', code: 'UNKNOWN_RECIPIENT' });
    await handlers.onFrame(fa.conn, JSON.stringify({ v: 1, ...sendFrame(next, seal(mallory, next, 'y'), 's2') }));
    await turn();
    expect(fa.last()).toMatchObject({ t: 'accepted', id: 's2' });
    // a transfer signed by a key that no longer holds the name
    const fo = connect();
    await auth(fo, mallory);
    const late = signDetached(transferSignedBytes('zoe', old.id.signPk, mallory.id.signPk), old.id.signSk);
    expect(await transfer(fo, mallory, late, 'm2')).toMatchObject({ t: 'error', id: 'm2', code: 'NAME_TAKEN' });
  });
});
