/**
 * The relay protocol end to end (docs/PROTOCOL.md §7): a real relay process, real clients.
 * Directory, mailbox, pushes, idempotency, ephemeral envelopes, and every auth refusal.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { makeBundle } from '../../src/crypto/bundle.js';
import { openEnvelope } from '../../src/crypto/seal.js';
import { RelayClient, type PushItem } from '../../src/client/relay-client.js';
import { bundleToJson } from '../../src/protocol/bundle.js';
import { bytesEqual, fromUtf8, toB64 } from '../../src/protocol/encoding.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { canonicalRelayUrl } from '../../src/protocol/frames.js';
import { parseMailBin } from '../../src/protocol/mail-binary.js';
import { anonymous, cleanupTmp, closedPort, giveToken, makeUser, raw, rawAuth, registerUsers, type RelayProc, seal, startRelayProcess, stillServes } from './helpers.js';

// Each test spawns real relay processes; give slow CI machines room (vitest's default is 5 s).
vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });

let relay: RelayProc;

beforeAll(async () => {
  relay = await startRelayProcess();
});
afterAll(async () => {
  expect(await relay.stop()).toBe(0);
  cleanupTmp();
});

function nextPush(c: RelayClient): Promise<PushItem> {
  return new Promise((res) => c.once('push', res));
}

describe('hello and auth', () => {
  it('greets with a 32-byte challenge, its canonical url, its clock and its limits', async () => {
    const r = await raw(relay.url);
    expect(r.hello).toMatchObject({ v: 1, t: 'hello', relay: relay.url });
    expect(Buffer.from(String(r.hello.challenge), 'base64')).toHaveLength(32);
    expect(typeof r.hello.time).toBe('number');
    expect(r.hello.limits).toMatchObject({ maxFrameBytes: 128 * 1024, mailboxMaxCount: 10_000 });
    r.ws.close();
  });

  it('prints a canonical url and authenticates a client that signs it', async () => {
    expect(canonicalRelayUrl(relay.url)).toBe(relay.url);
    const c = await makeUser().connect(relay.url + '/');
    expect(c.url).toBe(relay.url);
    expect(typeof (await c.ping())).toBe('number');
    await c.close();
  });

  it('answers ping and lookup (the public directory) before auth but refuses everything else with AUTH_REQUIRED', async () => {
    const r = await raw(relay.url);
    expect(await r.req({ v: 1, t: 'ping', id: 'p' })).toMatchObject({ t: 'pong', id: 'p' });
    expect(await r.req({ v: 1, t: 'lookup', id: 'l', name: 'nobody-here' })).toMatchObject({ t: 'error', id: 'l', code: 'NOT_FOUND' });
    for (const f of [
      { t: 'send', to: toB64(new Uint8Array(32)), env: toB64(new Uint8Array(500)), eid: envelopeId(new Uint8Array(500)) },
      { t: 'pull' },
      { t: 'ack', eids: ['00'.repeat(16)] },
      { t: 'tokens', add: [{ h: toB64(new Uint8Array(32)), exp: Date.now() + 60_000 }] },
      { t: 'register', bundle: bundleToJson(makeUser().bundle) },
    ]) {
      expect(await r.req({ v: 1, id: 'x', ...f })).toMatchObject({ t: 'error', id: 'x', code: 'AUTH_REQUIRED' });
    }
    r.ws.close();
    await stillServes(relay.url);
  });

  it('refuses an auth signed for another url (AUTH_WRONG_URL) and closes', async () => {
    const err = await makeUser()
      .connect(relay.url, { expectedUrl: 'ws://relay.example:7070' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AUTH_WRONG_URL', kind: 'relay', hint: `if that is the relay you meant, use --relay ${relay.url}` });
    const r = await raw(relay.url);
    // The frame names the right url but the signature covers another one.
    expect(await rawAuth(r, makeUser(), { signUrl: 'ws://relay.example:7070' })).toMatchObject({ t: 'error', code: 'AUTH_FAILED' });
    expect((await r.closed).code).toBe(1008);
  });

  it('refuses a stale or future time (AUTH_STALE)', async () => {
    const u = makeUser();
    await expect(u.connect(relay.url, { now: () => Date.now() - 10 * 60_000 })).rejects.toMatchObject({ code: 'AUTH_STALE', kind: 'relay' });
    await expect(u.connect(relay.url, { now: () => Date.now() + 10 * 60_000 })).rejects.toMatchObject({ code: 'AUTH_STALE' });
  });

  it('refuses a bad signature (AUTH_FAILED)', async () => {
    const u = makeUser();
    const other = makeUser();
    // Signs with another identity's key while claiming u's.
    await expect(RelayClient.connect(relay.url, { signPk: u.id.signPk, sign: other.opts.sign })).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    const r = await raw(relay.url);
    const bad = await r.req({ v: 1, t: 'auth', id: 'a', signPk: toB64(u.id.signPk), url: relay.url, time: Date.now(), sig: toB64(new Uint8Array(64)) });
    expect(bad).toMatchObject({ code: 'AUTH_FAILED', id: 'a' });
    await r.closed;
  });

  it('refuses a replayed auth: a captured answer does not open another connection', async () => {
    const u = makeUser();
    const a = await raw(relay.url);
    const time = Date.now();
    const { signDetached } = await import('../../src/crypto/nacl.js');
    const { authSignedBytes } = await import('../../src/protocol/frames.js');
    const sig = signDetached(authSignedBytes(Buffer.from(String(a.hello.challenge), 'base64'), relay.url, time), u.id.signSk);
    const frame = { v: 1, t: 'auth', id: 'a', signPk: toB64(u.id.signPk), url: relay.url, time, sig: toB64(sig) };
    expect(await a.req(frame)).toMatchObject({ t: 'ok', id: 'a' });
    // Same frame again on the same connection: the challenge is single-use.
    expect(await a.req(frame)).toMatchObject({ t: 'error', code: 'CHALLENGE_USED' });
    // Same frame on a new connection (new challenge): refused.
    const b = await raw(relay.url);
    expect(b.hello.challenge).not.toBe(a.hello.challenge);
    expect(await b.req(frame)).toMatchObject({ t: 'error', code: 'AUTH_FAILED' });
    await b.closed;
    a.ws.close();
  });

  it('gives RELAY_UNREACHABLE with a hint when nothing listens', async () => {
    const port = await closedPort();
    const err = await makeUser()
      .connect(`ws://127.0.0.1:${port}`)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'RELAY_UNREACHABLE', kind: 'relay' });
    expect((err as { hint: string }).hint).toMatch(/hush relay/);
  });
});

describe('directory', () => {
  it('registers a name first-come and looks it up by name and by key', async () => {
    const bob = makeUser('bob-dir');
    const c = await bob.connect(relay.url);
    await c.register(bob.bundle);
    const byName = await c.lookup({ name: 'bob-dir' });
    expect(bytesEqual(byName.signPk, bob.id.signPk)).toBe(true);
    expect(bytesEqual(byName.boxPk, bob.id.boxPk)).toBe(true);
    expect(bytesEqual(byName.sig, bob.bundle.sig)).toBe(true);
    const byKey = await c.lookup({ signPk: bob.id.signPk });
    expect(byKey.name).toBe('bob-dir');
    await expect(c.lookup({ name: 'nobody-here' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(c.lookup({ signPk: makeUser().id.signPk })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await c.close();
  });

  it('refuses a taken name from another key, and lets the owner replace and rename its bundle', async () => {
    const owner = makeUser('carol-dir');
    const thief = makeUser('carol-dir');
    const co = await owner.connect(relay.url);
    await co.register(owner.bundle);
    const ct = await thief.connect(relay.url);
    await expect(ct.register(thief.bundle)).rejects.toMatchObject({ code: 'NAME_TAKEN', kind: 'relay' });
    expect(bytesEqual((await ct.lookup({ name: 'carol-dir' })).signPk, owner.id.signPk)).toBe(true);
    // Same key: a newer bundle replaces the old one.
    const newer = makeBundle(owner.id, 'carol-dir', owner.bundle.created + 1000);
    await co.register(newer);
    expect((await co.lookup({ name: 'carol-dir' })).created).toBe(newer.created);
    // An older bundle does not roll it back.
    await expect(co.register(owner.bundle)).rejects.toMatchObject({ code: 'BAD_BUNDLE' });
    // Renaming frees the old name.
    await co.register(makeBundle(owner.id, 'carol-renamed', newer.created + 1));
    expect((await co.lookup({ signPk: owner.id.signPk })).name).toBe('carol-renamed');
    await ct.register(thief.bundle);
    expect(bytesEqual((await ct.lookup({ name: 'carol-dir' })).signPk, thief.id.signPk)).toBe(true);
    await co.close();
    await ct.close();
  });

  it('refuses a bundle with a bad signature, one for another identity, and a bad name (BAD_BUNDLE)', async () => {
    const u = makeUser('dave-dir');
    const c = await u.connect(relay.url);
    const forged = { ...u.bundle, sig: new Uint8Array(u.bundle.sig).map((b, i) => (i === 0 ? b ^ 1 : b)) };
    await expect(c.register(forged)).rejects.toMatchObject({ code: 'BAD_BUNDLE' });
    await expect(c.register(makeUser('eve-dir').bundle)).rejects.toMatchObject({ code: 'BAD_BUNDLE' });
    const r = await raw(relay.url);
    await rawAuth(r, u);
    const badName = { ...bundleToJson(u.bundle), name: 'Not A Name!' };
    expect(await r.req({ v: 1, t: 'register', id: 'r', bundle: badName })).toMatchObject({ code: 'BAD_BUNDLE', id: 'r' });
    expect(await r.req({ v: 1, t: 'register', id: 'r2', bundle: { ...bundleToJson(u.bundle), signPk: 'AAAA' } })).toMatchObject({ code: 'BAD_BUNDLE' });
    await expect(c.lookup({ name: 'dave-dir' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    r.ws.close();
    await c.close();
  });
});

describe('mailbox', () => {
  it('pushes to an online recipient, keeps the mail until ack, and pull returns it in order', async () => {
    const alice = makeUser('alice-mb');
    const bob = makeUser('bob-mb');
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    const cb = await bob.connect(relay.url);
    const envs = ['one', 'two', 'three'].map((t) => seal(alice, bob, t));
    const pushed = nextPush(cb);
    const r1 = await ca.send(bob.id.signPk, envs[0]!);
    expect(r1).toEqual({ eid: envelopeId(envs[0]!), stored: true, delivered: 1 });
    const p = await pushed;
    expect(p.eid).toBe(r1.eid);
    expect(p.seq).toBeGreaterThan(0);
    expect(p.ephemeral).toBe(false);
    const opened = openEnvelope(bob.id, p.env, (k) => (bytesEqual(k, alice.id.signPk) ? alice.id : undefined));
    expect(fromUtf8(opened.body)).toBe('one');
    await ca.send(bob.id.signPk, envs[1]!);
    await ca.send(bob.id.signPk, envs[2]!);
    const { items, more } = await cb.pull();
    expect(more).toBe(false);
    expect(items.map((i) => i.eid)).toEqual(envs.map((e) => envelopeId(e)));
    expect(items[0]!.seq).toBe(p.seq);
    expect(items.every((i, k) => k === 0 || i.seq > items[k - 1]!.seq)).toBe(true);
    expect(Buffer.from(items[2]!.env).equals(Buffer.from(envs[2]!))).toBe(true);
    expect(await cb.ack([items[0]!.eid, items[1]!.eid])).toBe(2);
    expect((await cb.pull()).items.map((i) => i.eid)).toEqual([envelopeId(envs[2]!)]);
    expect(await cb.ack([items[0]!.eid])).toBe(0); // already gone
    await ca.close();
    await cb.close();
  });

  it.each(['binary mail pages', 'JSON mail frames (an older relay)'])('delivers to an offline recipient on a later pull, in pages (%s)', async (how) => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    const sent: string[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await ca.send(bob.id.signPk, seal(alice, bob, `m${i}`));
      expect(r.delivered).toBe(0);
      sent.push(r.eid);
    }
    const cb = await bob.connect(relay.url);
    expect(cb.binaryMail).toBe(true);
    if (how !== 'binary mail pages') delete (cb.hello.limits as { mailBinary?: number }).mailBinary; // as an older relay's hello
    expect(cb.binaryMail).toBe(how === 'binary mail pages');
    const page1 = await cb.pull({ limit: 2 });
    expect(page1.items.map((i) => i.eid)).toEqual(sent.slice(0, 2));
    expect(page1.more).toBe(true);
    const page2 = await cb.pull({ after: page1.items[1]!.seq, limit: 2 });
    expect(page2.items.map((i) => i.eid)).toEqual(sent.slice(2, 4));
    expect(page2.more).toBe(true);
    const page3 = await cb.pull({ after: page2.items[1]!.seq, limit: 2 });
    expect(page3.items.map((i) => i.eid)).toEqual(sent.slice(4));
    expect(page3.more).toBe(false);
    await ca.close();
    await cb.close();
  });

  it('answers a pull with "bin":1 with a binary mail page of the same items as the JSON one; a bin pull needs a decimal id', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    const envs = ['a', 'b', 'c'].map((t) => seal(alice, bob, t));
    for (const e of envs) await ca.send(bob.id.signPk, e);
    const r = await raw(relay.url);
    expect(r.hello.limits).toMatchObject({ mailBinary: 1 });
    expect(await rawAuth(r, bob)).toMatchObject({ t: 'ok' });
    const json = await r.req({ v: 1, t: 'pull', id: 'j1', limit: 2 });
    expect(json).toMatchObject({ t: 'mail', id: 'j1', more: true });
    const bin = await r.req({ v: 1, t: 'pull', id: '9', limit: 2, bin: 1 });
    const page = parseMailBin(bin.binary as Buffer);
    if (!page.ok) throw new Error(page.message);
    expect(page.frame.id).toBe('9');
    expect(page.frame.more).toBe(true);
    expect(page.frame.items.map((i) => ({ ...i, env: toB64(i.env) }))).toEqual(json.items);
    expect(page.frame.items.map((i) => envelopeId(i.env))).toEqual(envs.slice(0, 2).map((e) => envelopeId(e)));
    // ~3/4 of the JSON frame's size: the envelopes travel as bytes, not base64.
    expect((bin.binary as Buffer).length).toBeLessThan(JSON.stringify(json).length * 0.8);
    const rest = await r.req({ v: 1, t: 'pull', id: '10', after: page.frame.items[1]!.seq, bin: 1 });
    const last = parseMailBin(rest.binary as Buffer);
    expect(last.ok && last.frame.items.map((i) => i.eid)).toEqual([envelopeId(envs[2]!)]);
    expect(last.ok && last.frame.more).toBe(false);
    expect(await r.req({ v: 1, t: 'pull', id: 'x9', bin: 1 })).toMatchObject({ t: 'error', id: 'x9', code: 'BAD_FRAME' });
    expect(await r.req({ v: 1, t: 'pull', id: '11', bin: 2 })).toMatchObject({ t: 'error', id: '11', code: 'BAD_FRAME' });
    r.ws.close();
    await ca.close();
  });

  it('accepts a resent envelope once and stores it once (idempotent)', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const ca = await alice.connect(relay.url);
    const env = seal(alice, bob, 'only once');
    const results = await Promise.all([ca.send(bob.id.signPk, env), ca.send(bob.id.signPk, env)]);
    expect(results.map((r) => r.eid)).toEqual([envelopeId(env), envelopeId(env)]);
    expect((await ca.send(bob.id.signPk, env)).eid).toBe(envelopeId(env));
    const cb = await bob.connect(relay.url);
    expect((await cb.pull()).items).toHaveLength(1);
    await ca.close();
    await cb.close();
  });

  it('pushes an ephemeral envelope sent with a delivery token to an online recipient and never stores it', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const token = await giveToken(relay.url, bob);
    const ca = await anonymous(relay.url);
    // Offline recipient: dropped, not stored.
    expect(await ca.send(bob.id.signPk, seal(alice, bob, '', 'typing'), { ephemeral: true, token })).toMatchObject({ stored: false, delivered: 0 });
    const cb = await bob.connect(relay.url);
    const pushed = nextPush(cb);
    const env = seal(alice, bob, '', 'typing');
    expect(await ca.send(bob.id.signPk, env, { ephemeral: true, token })).toMatchObject({ eid: envelopeId(env), stored: false, delivered: 1 });
    const p = await pushed;
    expect(p).toMatchObject({ ephemeral: true, seq: 0, eid: envelopeId(env) });
    expect((await cb.pull()).items).toHaveLength(0);
    await ca.close();
    await cb.close();
  });

  it("pushes to every connection of the recipient, and nobody can pull or ack another identity's mail", async () => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const mallory = makeUser();
    const ca = await alice.connect(relay.url);
    const cb1 = await bob.connect(relay.url);
    const cb2 = await bob.connect(relay.url);
    const cm = await mallory.connect(relay.url);
    let malloryPushes = 0;
    cm.on('push', () => malloryPushes++);
    const both = Promise.all([nextPush(cb1), nextPush(cb2)]);
    const r = await ca.send(bob.id.signPk, seal(alice, bob, 'for bob'));
    expect(r.delivered).toBe(2);
    await both;
    // Mallory's pull returns her own (empty) mailbox whatever she adds to the frame.
    const rm = await raw(relay.url);
    await rawAuth(rm, mallory);
    const pulled = await rm.req({ v: 1, t: 'pull', id: 'p', signPk: toB64(bob.id.signPk), recipient: toB64(bob.id.signPk) });
    expect(pulled).toMatchObject({ t: 'mail', items: [], more: false });
    expect(await cm.ack([r.eid])).toBe(0);
    expect((await cb1.pull()).items.map((i) => i.eid)).toEqual([r.eid]);
    expect(malloryPushes).toBe(0);
    rm.ws.close();
    for (const c of [ca, cb1, cb2, cm]) await c.close();
  });

  it('refuses an envelope whose eid does not match its bytes (BAD_ENVELOPE)', async () => {
    const alice = makeUser();
    const bob = makeUser();
    await registerUsers(relay.url, bob);
    const r = await raw(relay.url);
    await rawAuth(r, alice);
    const env = seal(alice, bob, 'x');
    const wrong = await r.req({ v: 1, t: 'send', id: 's', to: toB64(bob.id.signPk), env: toB64(env), eid: 'ab'.repeat(16) });
    expect(wrong).toMatchObject({ t: 'error', id: 's', code: 'BAD_ENVELOPE' });
    const short = await r.req({ v: 1, t: 'send', id: 's2', to: toB64(bob.id.signPk), env: toB64(env.subarray(0, 100)), eid: envelopeId(env.subarray(0, 100)) });
    expect(short).toMatchObject({ code: 'BAD_ENVELOPE' });
    r.ws.close();
  });

  it('answers an unknown frame type with UNKNOWN_TYPE and a wrong version with UNSUPPORTED_VERSION', async () => {
    const r = await raw(relay.url);
    expect(await r.req({ v: 1, t: 'teleport', id: 'u' })).toMatchObject({ t: 'error', id: 'u', code: 'UNKNOWN_TYPE' });
    expect(await r.req({ v: 2, t: 'ping', id: 'v' })).toMatchObject({ t: 'error', id: 'v', code: 'UNSUPPORTED_VERSION' });
    // Unknown fields are ignored.
    expect(await r.req({ v: 1, t: 'ping', id: 'w', future: { x: 1 } })).toMatchObject({ t: 'pong', id: 'w' });
    r.ws.close();
  });
});
