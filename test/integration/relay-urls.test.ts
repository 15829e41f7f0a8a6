/**
 * The URLs a relay answers to (issue #11, docs/PROTOCOL.md §7.3): every loopback spelling of a
 * loopback relay, the --public-url list (flag and environment), a warning instead of
 * `ws://0.0.0.0:PORT` for a relay on every interface, and AUTH_WRONG_URL for anything else.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { hush, makeHome } from '../cli/helpers.js';
import { cleanupTmp, makeUser, raw, rawAuth, type RelayProc, startRelayProcess, tmpDir } from './helpers.js';

vi.setConfig({ testTimeout: 30_000, hookTimeout: 30_000 });
const running: RelayProc[] = [];
afterAll(async () => {
  await Promise.all(running.splice(0).map((r) => r.stop()));
  cleanupTmp();
});
async function start(opts: Parameters<typeof startRelayProcess>[0] = {}): Promise<RelayProc> {
  const r = await startRelayProcess(opts);
  running.push(r);
  return r;
}

/** Whether this machine can listen on the IPv6 loopback at all. */
function hasIpv6Loopback(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

describe('the URLs a relay answers to', () => {
  it('a loopback relay accepts ws://127.0.0.1:P, ws://localhost:P and ws://[::1]:P, and lists them in hello.urls', async () => {
    const relay = await start();
    const port = new URL(relay.url).port;
    expect(relay.url).toBe(`ws://127.0.0.1:${port}`);
    const own = [`ws://127.0.0.1:${port}`, `ws://localhost:${port}`, `ws://[::1]:${port}`];
    const r = await raw(relay.url);
    expect(r.hello.relay).toBe(own[0]);
    expect(r.hello.urls).toEqual(own);
    r.ws.close();

    const ipv6 = await hasIpv6Loopback();
    const dial = ipv6 ? own : own.slice(0, 2);
    if (!ipv6) {
      // Said, not skipped: the IPv6 spelling is still accepted in auth (below, over IPv4).
      console.warn('relay-urls: this machine has no IPv6 loopback (::1); ws://[::1]:P is tested by signing it over 127.0.0.1 only');
      expect(relay.log()).toMatch(/listen-skipped host=::1/);
    }
    for (const url of dial) {
      const u = makeUser();
      const c = await u.connect(url); // signs `url` itself
      expect(c.url).toBe(url);
      await c.register(u.bundle);
      expect((await c.lookup({ name: u.name })).name).toBe(u.name);
      await c.close();
    }
    // Each spelling signed on a connection made to 127.0.0.1 is accepted as well.
    for (const url of own) {
      const rr = await raw(relay.url);
      expect(await rawAuth(rr, makeUser(), { url })).toMatchObject({ t: 'ok' });
      rr.ws.close();
    }
  });

  it('hush register --relay ws://localhost:P works against a relay that printed ws://127.0.0.1:P', async () => {
    const relay = await start();
    const port = new URL(relay.url).port;
    const home = await makeHome();
    const env = { HUSH_PASSPHRASE: 'correct horse' };
    expect((await hush(['init', '--name', 'lh'], { home, env })).exitCode).toBe(0);
    const r = await hush(['register', '--relay', `ws://localhost:${port}`, '--json'], { home, env });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ event: 'registered', name: 'lh' });
  });

  it('refuses an auth for a URL it does not own (AUTH_WRONG_URL, close 1008) and names its own in the error', async () => {
    const relay = await start();
    const port = Number(new URL(relay.url).port);
    for (const url of [`ws://127.0.0.1:${port + 1}`, `ws://localhost:${port}/other`, `wss://127.0.0.1:${port}`, `ws://192.0.2.1:${port}`]) {
      const r = await raw(relay.url);
      expect(await rawAuth(r, makeUser(), { url })).toMatchObject({ t: 'error', code: 'AUTH_WRONG_URL' });
      expect(await r.closed).toEqual({ code: 1008, reason: 'AUTH_WRONG_URL' });
    }
    // the client library: dialled URL is not one of the relay's (a path the relay does not own)
    const err = await makeUser()
      .connect(`${relay.url}/elsewhere`)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AUTH_WRONG_URL', kind: 'relay', hint: `if that is the relay you meant, use --relay ${relay.url}` });
    expect((err as Error).message).toContain(`ws://localhost:${port}`);
  });

  it('--public-url names exactly the URLs clients use (a path behind a proxy included); loopback spellings are then refused', async () => {
    const relay = await start({ args: ['--public-url', 'WSS://Hush.Example.ORG:443/relay/', '--public-url', 'ws://127.0.0.1:1/hush'] });
    // the first one, canonical, is printed and announced
    expect(relay.url).toBe('wss://hush.example.org/relay/');
    // where it really listens (the log line), since no proxy stands in front of it here
    const listen = `ws://${relay.log().match(/listen=([^ ,]+)/)![1]}`;
    const r = await raw(listen);
    expect(r.hello.relay).toBe('wss://hush.example.org/relay/');
    expect(r.hello.urls).toEqual(['wss://hush.example.org/relay/', 'ws://127.0.0.1:1/hush']);
    r.ws.close();
    // A client that dials through a proxy signs the public URL (expectedUrl) and is accepted.
    const u = makeUser();
    const c = await u.connect(listen, { expectedUrl: 'wss://hush.example.org/relay/' });
    await c.ping();
    await c.close();
    // The relay ignores the HTTP upgrade path: what counts is the URL signed.
    const c2 = await u.connect(`${listen}/any/path`, { expectedUrl: 'ws://127.0.0.1:1/hush' });
    await c2.close();
    // Its loopback address is not among its URLs now.
    const err = await u.connect(listen).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'AUTH_WRONG_URL', hint: 'if that is the relay you meant, use --relay wss://hush.example.org/relay/' });
  });

  it('HUSH_RELAY_PUBLIC_URL takes a comma-separated list; --url still works as an alias', async () => {
    const env = await start({ env: { HUSH_RELAY_PUBLIC_URL: 'ws://lan-a.test:7070, ws://lan-b.test:7070' } });
    expect(env.url).toBe('ws://lan-a.test:7070');
    const listenA = `ws://${env.log().match(/listen=([^ ,]+)/)![1]}`;
    const ra = await raw(listenA);
    expect(ra.hello.urls).toEqual(['ws://lan-a.test:7070', 'ws://lan-b.test:7070']);
    ra.ws.close();
    const c = await makeUser().connect(listenA, { expectedUrl: 'ws://lan-b.test:7070' });
    await c.close();

    const alias = await start({ args: ['--url', 'ws://old-flag.test:9000/'] });
    expect(alias.url).toBe('ws://old-flag.test:9000');
  });

  it('on 0.0.0.0 without --public-url: warns on stderr naming the flag and never announces 0.0.0.0', async () => {
    const relay = await start({ args: ['--host', '0.0.0.0'] });
    const port = new URL(relay.url).port;
    expect(relay.url).toBe(`ws://127.0.0.1:${port}`);
    const warning = await relay.waitForLog(/^hush-relay: warning: /);
    expect(warning).toContain('--public-url');
    expect(warning).toContain('0.0.0.0');
    const r = await raw(relay.url);
    expect(JSON.stringify(r.hello)).not.toContain('0.0.0.0');
    r.ws.close();
    const c = await makeUser().connect(relay.url);
    await c.close();

    const named = await start({ args: ['--host', '0.0.0.0', '--public-url', 'ws://my-laptop.lan:7070'] });
    expect(named.url).toBe('ws://my-laptop.lan:7070');
    await named.waitForLog(/ listening /);
    expect(named.log()).not.toMatch(/warning/);
  });

  it('a --public-url that is not a canonical-able ws:// url is refused at start-up (exit 2)', () => {
    const bin = fileURLToPath(new URL('../../bin/hush-relay.js', import.meta.url));
    for (const bad of ['http://x.test', 'ws://x.test/?q=1', 'ws://user@x.test', 'ws://127.1:80']) {
      const r = spawnSync(process.execPath, [bin, '--port', '0', '--data', tmpDir(), '--public-url', bad], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/^hush-relay: error: --public-url: relay url .*\nhush-relay: hint: /);
    }
  });
});
