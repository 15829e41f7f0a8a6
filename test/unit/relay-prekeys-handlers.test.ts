/**
 * The relay's prekey handlers (relay/prekeys.ts) in process, through createHandlers with a fake
 * Link and a real SQLite store: what a process test cannot set up cheaply (the data directory's
 * free space). Everything else is in test/integration/relay-prekeys.test.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeBundle } from '../../src/crypto/bundle.js';
import { randomBytes, signDetached } from '../../src/crypto/nacl.js';
import { generateOneTimePrekey, generateSignedPrekey } from '../../src/crypto/prekeys.js';
import { generateIdentity } from '../../src/crypto/identity.js';
import { bundleToJson } from '../../src/protocol/bundle.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { authSignedBytes, encodeFrame } from '../../src/protocol/frames.js';
import { encodePrekeyUpload } from '../../src/protocol/prekey-upload.js';
import { DEFAULT_LIMITS } from '../../relay/config.js';
import { type Conn, createHandlers, type Handlers } from '../../relay/handlers.js';
import { Mailbox } from '../../relay/mailbox.js';
import { SqliteStore } from '../../relay/store-sqlite.js';
import { relayUrls } from '../../relay/urls.js';
import { Corking, type Link } from '../../relay/wire.js';

type Frame = Record<string, unknown>;
let dir: string;
let store: SqliteStore;
let handlers: Handlers;
let free = Infinity;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'hush-relay-prekeys-unit-'));
  store = new SqliteStore(dir);
  const event = (): void => undefined;
  handlers = createHandlers({
    limits: DEFAULT_LIMITS,
    urls: relayUrls('127.0.0.1', 7070),
    store,
    mailbox: new Mailbox(store, new Corking(), event, DEFAULT_LIMITS),
    event,
    closing: () => false,
    freeBytes: () => free,
  });
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

/** An authenticated, registered connection; `req` sends a frame and returns the answer. */
async function connect(): Promise<{ conn: Conn; req: (f: Frame) => Promise<Frame>; id: ReturnType<typeof generateIdentity> }> {
  const frames: Frame[] = [];
  const link = {
    send: (f: string | { t: string }) => void frames.push(JSON.parse(typeof f === 'string' ? f : encodeFrame(f)) as Frame),
    push: () => true,
    close: () => undefined,
    terminate: () => undefined,
    ping: () => undefined,
    isOpen: true,
    isClosed: false,
  } as unknown as Link;
  const conn = handlers.newConn(1, link, '127.0.0.1');
  const req = async (f: Frame): Promise<Frame> => {
    await handlers.onFrame(conn, JSON.stringify({ v: 1, ...f }));
    return frames[frames.length - 1]!;
  };
  const id = generateIdentity(randomBytes);
  const time = Date.now();
  const sig = signDetached(authSignedBytes(conn.challenge, 'ws://127.0.0.1:7070', time), id.signSk);
  expect(await req({ t: 'auth', id: 'a', signPk: toB64(id.signPk), url: 'ws://127.0.0.1:7070', time, sig: toB64(sig) })).toMatchObject({ t: 'ok' });
  expect(await req({ t: 'register', id: 'r', bundle: bundleToJson(makeBundle(id, `u${Date.now() % 100000}`, time)) })).toMatchObject({ t: 'ok' });
  return { conn, req, id };
}

describe('prekey handlers', () => {
  it('refuses an upload under --min-free free space (STORE_FULL), storing nothing; a status query still answers', async () => {
    const { req, id } = await connect();
    const upload = toB64(encodePrekeyUpload({ spk: generateSignedPrekey(id, 1, Date.now() + 60_000, randomBytes), opks: [generateOneTimePrekey(1, randomBytes)] }));
    free = DEFAULT_LIMITS.minFreeBytes - 1;
    expect(await req({ t: 'prekeys', id: 'p1', upload })).toMatchObject({ t: 'error', id: 'p1', code: 'STORE_FULL' });
    expect(await req({ t: 'prekeys', id: 'p2' })).toEqual({ v: 1, t: 'prekey-status', id: 'p2', opks: 0, kems: 0 });
    expect(await req({ t: 'fetch-prekeys', id: 'f1', signPk: toB64(id.signPk) })).toMatchObject({ t: 'error', code: 'NO_PREKEYS' });
    free = Infinity;
    expect(await req({ t: 'prekeys', id: 'p3', upload })).toMatchObject({ t: 'prekey-status', id: 'p3', opks: 1, kems: 0, spkId: 1 });
  });
});
