/**
 * The relay's blob store through a real relay process (docs/PROTOCOL.md §7.9): the lifecycle
 * (begin, put, finish, get, ack), who may do what (NOT_FOUND alike for strangers to a blob),
 * ordering and shape errors, resume after the uploader's connection dies mid-upload, and every
 * limit with its code: size cap, quota per uploader and per recipient, TTL, free space, a disk
 * filling up mid-upload, and binary chunk frames with the JSON fallback (§7.9.1). The
 * first four cases run on both stores: SQLite, and a real redis-server holding the metadata
 * (relay/blobs-redis.ts) with the files in --blob-dir.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayError } from '../../src/errors.js';
import { BlobFiles } from '../../relay/blobs-files.js';
import { encodeBlobBin } from '../../src/protocol/blob-binary.js';
import { skipWithout, whyNoPrlimit } from '../needs.js';
import { cleanupTmp, makeUser, raw, rawAuth, registerUsers, type RelayProc, startRelayProcess, tmpDir, type User } from './helpers.js';
import { type RedisProc, startRedis, whyNoRedis } from './redis-helpers.js';

const CHUNK = 1040; // sealed bytes per chunk (1024 + 16)
const data = (n: number, fill = 7): Uint8Array => new Uint8Array(n).fill(fill);

let relay: RelayProc;
let dataDir: string;
let alice: User;
let bob: User;
let carol: User;
let eve: User;

afterAll(() => cleanupTmp());

const code = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'OK';
  } catch (e) {
    return e instanceof RelayError ? e.code : String(e);
  }
};
const blobFiles = (): string[] => readdirSync(join(dataDir, 'blobs')).filter((f) => f.endsWith('.blob'));

for (const kind of ['sqlite', 'redis'] as const) {
  describe.skipIf(kind === 'redis' && skipWithout('redis-server', whyNoRedis()))(`relay blob store on ${kind}`, () => {
    let redis: RedisProc | undefined;
    beforeAll(async () => {
      dataDir = tmpDir('hush-relay-blobs-');
      const args = ['--blob-max', '100k', '--blob-quota-uploader', '200k', '--blob-quota-recipient', '150k', '--blob-ttl', '3s', '--purge-interval', '200ms', '--blob-wait', '1s'];
      if (kind === 'redis') redis = await startRedis();
      relay = await startRelayProcess(redis ? { store: redis.url, args: [...args, '--blob-dir', dataDir] } : { dataDir, args });
      [alice, bob, carol, eve] = [makeUser(), makeUser(), makeUser(), makeUser()];
      await registerUsers(relay.url, alice, bob, carol, eve);
    });
    afterAll(async () => {
      expect(relay.log()).not.toMatch(/internal-error|store-error/);
      expect(await relay?.stop()).toBe(0);
      await redis?.stop();
    });

    it('lifecycle: only the uploader puts, only recipients get, in order; deleted from disk once every recipient acked', async () => {
      const a = await alice.connect(relay.url);
      const b = await bob.connect(relay.url);
      const c = await carol.connect(relay.url);
      const e = await eve.connect(relay.url);
      const bytes = 2 * CHUNK + 100;
      const st = await a.blobBegin([bob.id.signPk, carol.id.signPk], bytes, CHUNK, 3);
      expect(st).toMatchObject({ t: 'blob', have: 0, chunks: 3, bytes, done: false });
      expect(st.blob).toMatch(/^[0-9a-f]{32}$/);
      expect(existsSync(join(dataDir, 'blobs', `${st.blob}.blob`))).toBe(true);

      expect(await code(a.blobPut(st.blob, 1, data(CHUNK)))).toBe('BLOB_ORDER'); // not the next chunk
      expect(await code(a.blobPut(st.blob, 0, data(CHUNK - 1)))).toBe('BLOB_ORDER'); // wrong length
      expect(await code(e.blobPut(st.blob, 0, data(CHUNK)))).toBe('NOT_FOUND'); // not the uploader
      expect(await code(a.blobFinish(st.blob))).toBe('BLOB_INCOMPLETE');
      expect(await a.blobPut(st.blob, 0, data(CHUNK, 1))).toMatchObject({ have: 1 });
      // Streaming (§7.9): a written chunk of an unfinished blob is served at once, one not yet put waits for it.
      expect(Buffer.from((await b.blobGet(st.blob, 0)).data).equals(Buffer.from(data(CHUNK, 1)))).toBe(true);
      const early = c.blobGet(st.blob, 1);
      expect(await code(c.blobAck(st.blob))).toBe('BLOB_INCOMPLETE'); // the waiting get does not hold up c's next frame; no ack before it is finished
      expect(await a.blobPut(st.blob, 1, data(CHUNK, 2))).toMatchObject({ have: 2 });
      expect(Buffer.from((await early).data).equals(Buffer.from(data(CHUNK, 2)))).toBe(true);
      expect(await code(a.blobPut(st.blob, 2, data(CHUNK)))).toBe('BLOB_ORDER'); // the last chunk is 100 bytes
      expect(await a.blobPut(st.blob, 2, data(100, 3))).toMatchObject({ have: 3 });
      expect(await a.blobFinish(st.blob)).toMatchObject({ have: 3, done: true });
      expect(await code(a.blobPut(st.blob, 3, data(100)))).toBe('BLOB_ORDER'); // finished

      const got = await b.blobGet(st.blob, 1);
      expect(got).toMatchObject({ t: 'chunk', blob: st.blob, i: 1 });
      expect(Buffer.from(got.data).equals(Buffer.from(data(CHUNK, 2)))).toBe(true);
      expect(Buffer.from((await c.blobGet(st.blob, 2)).data).equals(Buffer.from(data(100, 3)))).toBe(true);
      expect(await code(b.blobGet(st.blob, 3))).toBe('NOT_FOUND'); // past the end
      expect(await code(e.blobGet(st.blob, 0))).toBe('NOT_FOUND'); // not a recipient: the same answer as no blob
      expect(await code(a.blobGet(st.blob, 0))).toBe('NOT_FOUND'); // the uploader is not a recipient
      expect(await code(e.blobGet('0'.repeat(32), 0))).toBe('NOT_FOUND');

      await b.blobAck(st.blob);
      expect(existsSync(join(dataDir, 'blobs', `${st.blob}.blob`))).toBe(true); // carol has not acked
      expect(Buffer.from((await c.blobGet(st.blob, 2)).data).equals(Buffer.from(data(100, 3)))).toBe(true); // still served to her (the relay's record of it, kept in memory, follows the ack)
      await c.blobAck(st.blob);
      expect(existsSync(join(dataDir, 'blobs', `${st.blob}.blob`))).toBe(false);
      expect(await code(c.blobGet(st.blob, 0))).toBe('NOT_FOUND');
      await Promise.all([a, b, c, e].map((x) => x.close()));
    });

    it('streaming: a get of a chunk the uploader never puts is BLOB_INCOMPLETE after --blob-wait; of a blob deleted meanwhile, NOT_FOUND', async () => {
      const a = await alice.connect(relay.url);
      const b = await bob.connect(relay.url);
      expect(a.blobWaitMs).toBe(1000);
      const st = await a.blobBegin([bob.id.signPk], 2 * CHUNK, CHUNK, 2);
      await a.blobPut(st.blob, 0, data(CHUNK, 1));
      const stalled = code(b.blobGet(st.blob, 1));
      const other = await a.blobBegin([bob.id.signPk], CHUNK, CHUNK, 1);
      const gone = code(b.blobGet(other.blob, 0));
      await a.blobDelete(other.blob);
      expect(await gone).toBe('NOT_FOUND');
      expect(await stalled).toBe('BLOB_INCOMPLETE');
      await a.blobDelete(st.blob);
      await Promise.all([a, b].map((x) => x.close()));
    });

    it('without the hello flag (an older relay) the client falls back to JSON puts and chunks, and the bytes are the same', async () => {
      const a = await alice.connect(relay.url);
      const b = await bob.connect(relay.url);
      for (const c of [a, b]) delete (c.hello.limits as { blobBinary?: number }).blobBinary; // as an older relay's hello
      expect(a.binaryBlobs).toBe(false);
      const st = await a.blobBegin([bob.id.signPk], CHUNK + 50, CHUNK, 2);
      await a.blobPut(st.blob, 0, data(CHUNK, 4));
      await a.blobPut(st.blob, 1, data(50, 5));
      await a.blobFinish(st.blob);
      expect(Buffer.from((await b.blobGet(st.blob, 1)).data).equals(Buffer.from(data(50, 5)))).toBe(true);
      expect(relay.log()).not.toMatch(/internal-error/);
      await b.blobAck(st.blob);
      await Promise.all([a.close(), b.close()]);
    });

    it('an uploader whose connection died resumes from the chunks the relay holds', async () => {
      const a1 = await alice.connect(relay.url);
      const st = await a1.blobBegin([bob.id.signPk], 4 * CHUNK, CHUNK, 4);
      await a1.blobPut(st.blob, 0, data(CHUNK));
      await a1.blobPut(st.blob, 1, data(CHUNK));
      (a1 as unknown as { ws: { terminate(): void } }).ws.terminate(); // as a kill -9 would
      const a2 = await alice.connect(relay.url);
      expect(await a2.blobResume(st.blob)).toMatchObject({ have: 2, chunks: 4, done: false });
      const eve2 = await eve.connect(relay.url);
      expect(await code(eve2.blobResume(st.blob))).toBe('NOT_FOUND');
      await a2.blobPut(st.blob, 2, data(CHUNK));
      await a2.blobPut(st.blob, 3, data(CHUNK));
      expect(await a2.blobFinish(st.blob)).toMatchObject({ done: true });
      await a2.blobDelete(st.blob); // the uploader may drop it
      expect(existsSync(join(dataDir, 'blobs', `${st.blob}.blob`))).toBe(false);
      await Promise.all([a2.close(), eve2.close()]);
    });

    it('limits: size cap, quota per uploader and per recipient, unknown recipients, bad shapes, auth', async () => {
      const a = await alice.connect(relay.url);
      const e = await eve.connect(relay.url);
      expect(await code(a.blobBegin([bob.id.signPk], 101 * 1024, CHUNK, Math.ceil((101 * 1024) / CHUNK)))).toBe('BLOB_TOO_LARGE');
      expect(await code(a.blobBegin([makeUser().id.signPk], CHUNK, CHUNK, 1))).toBe('UNKNOWN_RECIPIENT');
      const n = (bytes: number): number => Math.ceil(bytes / CHUNK);
      const big = 95 * CHUNK; // 98,800 bytes: under the 100k cap
      // Recipient quota (150k): bob may have one ~100 KB blob waiting, not two, from anyone.
      const one = await a.blobBegin([bob.id.signPk], big, CHUNK, n(big));
      expect(await code(e.blobBegin([bob.id.signPk], big, CHUNK, n(big)))).toBe('BLOB_QUOTA');
      // Uploader quota (200k): alice's second blob (to carol) fits, a third does not.
      const two = await a.blobBegin([carol.id.signPk], big, CHUNK, n(big));
      expect(await code(a.blobBegin([eve.id.signPk], big, CHUNK, n(big)))).toBe('BLOB_QUOTA');
      await a.blobDelete(one.blob);
      await a.blobDelete(two.blob);
      expect((await a.blobBegin([eve.id.signPk], big, CHUNK, n(big))).have).toBe(0); // room again

      const r = await raw(relay.url);
      const to = [Buffer.from(bob.id.signPk).toString('base64')];
      expect(await r.req({ v: 1, t: 'blob-begin', id: 'x', to, bytes: 100, chunk: 100, chunks: 1 })).toMatchObject({ t: 'error', code: 'AUTH_REQUIRED' });
      await rawAuth(r, alice);
      expect(await r.req({ v: 1, t: 'blob-begin', id: 'b1', to, bytes: 5000, chunk: 1040, chunks: 2 })).toMatchObject({ t: 'error', code: 'BAD_FRAME' }); // 5000 bytes are not 2 chunks of 1040
      expect(await r.req({ v: 1, t: 'blob-begin', id: 'b2', to: [], bytes: 100, chunk: 100, chunks: 1 })).toMatchObject({ t: 'error', code: 'BAD_FRAME' });
      expect(await r.req({ v: 1, t: 'blob-get', id: 'b3', blob: 'ABC', i: 0 })).toMatchObject({ t: 'error', code: 'BAD_FRAME' });
      // §7.9.1: the hello says binary frames are taken; a client that never uses them (older) still
      // uploads with JSON puts; a malformed binary frame is refused with its code and request id.
      expect(r.hello.limits).toMatchObject({ blobBinary: 1 });
      const legacy = (await r.req({ v: 1, t: 'blob-begin', id: 'b4', to, bytes: 100, chunk: 100, chunks: 1 })) as { blob: string };
      expect(await r.req({ v: 1, t: 'blob-put', id: 'b5', blob: legacy.blob, i: 0, data: Buffer.from(data(100)).toString('base64') })).toMatchObject({ t: 'blob', have: 1 });
      const reqBin = (b: Buffer): Promise<Record<string, unknown>> => (r.send(b), r.next());
      const bin = encodeBlobBin('put', 77, Buffer.from(legacy.blob, 'hex'), 0, data(100));
      bin[0] = 2;
      expect(await reqBin(bin)).toMatchObject({ t: 'error', code: 'UNSUPPORTED_VERSION' });
      bin[0] = 1;
      bin[1] = 2; // a chunk frame sent to the relay
      expect(await reqBin(bin)).toMatchObject({ t: 'error', id: '77', code: 'UNKNOWN_TYPE' });
      bin[1] = 1;
      expect(await reqBin(bin.subarray(0, 40))).toMatchObject({ t: 'error', id: '77', code: 'BAD_FRAME' }); // 10 bytes of chunk: under a tag
      expect(await r.req({ v: 1, t: 'blob-get', id: 'not-decimal', blob: legacy.blob, i: 0, bin: 1 })).toMatchObject({ t: 'error', code: 'BAD_FRAME' });
      r.ws.close();
      await Promise.all([a.close(), e.close()]);
    });

    it('a blob expires after --blob-ttl: NOT_FOUND, and its file is purged', async () => {
      const a = await alice.connect(relay.url);
      const b = await bob.connect(relay.url);
      const st = await a.blobBegin([carol.id.signPk], 100, 100, 1);
      await a.blobPut(st.blob, 0, data(100));
      await a.blobFinish(st.blob);
      const deadline = Date.now() + 20_000;
      while (blobFiles().includes(`${st.blob}.blob`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(blobFiles()).not.toContain(`${st.blob}.blob`);
      expect(await code(a.blobResume(st.blob))).toBe('NOT_FOUND');
      expect(relay.log()).toMatch(/purge-blobs removed=\d+/);
      await Promise.all([a.close(), b.close()]);
    });
  });
}

describe('relay blob store: --blob-chunk (the largest chunk, §7.9.1)', () => {
  it('a relay of 64 KiB chunks says so in its hello and refuses a larger chunk at blob-begin (BLOB_TOO_LARGE) and in a binary put (BAD_FRAME); binary puts may pass --max-frame', async () => {
    const small = await startRelayProcess({ dataDir: tmpDir('hush-relay-blobs-chunk-'), args: ['--blob-chunk', '64k', '--max-frame', '96k'] });
    try {
      const [u, v] = [makeUser(), makeUser()];
      await registerUsers(small.url, u, v);
      const r = await raw(small.url);
      expect(r.hello.limits).toMatchObject({ blobBinary: 1, blobChunk: 65536, maxFrameBytes: 96 * 1024 });
      await rawAuth(r, u);
      const to = [Buffer.from(v.id.signPk).toString('base64')];
      const over = await r.req({ v: 1, t: 'blob-begin', id: 'c1', to, bytes: 2 * 65553, chunk: 65553, chunks: 2 });
      expect(over).toMatchObject({ t: 'error', id: 'c1', code: 'BLOB_TOO_LARGE' });
      expect(String(over.message)).toMatch(/at most 65552 \(--blob-chunk 65536\)/);
      const ok = (await r.req({ v: 1, t: 'blob-begin', id: 'c2', to, bytes: 65552 + 100, chunk: 65552, chunks: 2 })) as { blob: string; have: number };
      expect(ok.have).toBe(0);
      const reqBin = (b: Buffer): Promise<Record<string, unknown>> => (r.send(b), r.next());
      expect(await reqBin(encodeBlobBin('put', 9, Buffer.from(ok.blob, 'hex'), 0, data(65553)))).toMatchObject({ t: 'error', id: '9', code: 'BAD_FRAME' });
      expect(await reqBin(encodeBlobBin('put', 10, Buffer.from(ok.blob, 'hex'), 0, data(65552)))).toMatchObject({ t: 'blob', id: '10', have: 1 });
      r.ws.close();
      // The default (1 MiB chunks) under a --max-frame of 96 KiB: a whole 1 MiB chunk goes in one binary put.
      const big = await startRelayProcess({ dataDir: tmpDir('hush-relay-blobs-chunk-'), args: ['--max-frame', '96k'] });
      try {
        await registerUsers(big.url, u, v);
        const b = await raw(big.url);
        expect(b.hello.limits).toMatchObject({ blobChunk: 1048576 });
        await rawAuth(b, u);
        const one = (await b.req({ v: 1, t: 'blob-begin', id: 'd1', to, bytes: 1048592 + 16, chunk: 1048592, chunks: 2 })) as { blob: string };
        const put = (x: Buffer): Promise<Record<string, unknown>> => (b.send(x), b.next());
        expect(await put(encodeBlobBin('put', 11, Buffer.from(one.blob, 'hex'), 0, data(1048592)))).toMatchObject({ t: 'blob', id: '11', have: 1 });
        b.ws.close();
      } finally {
        await big.stop();
      }
    } finally {
      await small.stop();
    }
  });
});

describe('relay blob store: the disk', () => {
  it('blob files are flushed early in the thread pool; a file released during a flush keeps its descriptor until the flush is done', async () => {
    const files = new BlobFiles(join(tmpDir('hush-relay-blob-files-'), 'blobs'));
    const fds = (): number => readdirSync('/proc/self/fd').length;
    const before = fds();
    const chunk = (i: number): Buffer => Buffer.alloc(1024 * 1024, i);
    files.create('a');
    for (let i = 0; i < 9; i++) files.write('a', i * chunk(0).length, chunk(i), false); // the 8th MiB starts a flush
    files.release('a'); // while that flush runs: the descriptor stays open for it
    expect(fds()).toBe(before + 1);
    await files.flushed('a'); // the flush is done (and did not fail)
    expect(fds()).toBe(before); // and the descriptor it kept is closed
    files.write('a', 9 * chunk(0).length, chunk(9), true); // reopened; the last chunk is fsynced as before
    expect(files.size('a')).toBe(10 * chunk(0).length);
    for (let i = 0; i < 10; i++) expect(files.read('a', i * chunk(0).length, 4).equals(chunk(i).subarray(0, 4))).toBe(true);
    files.remove('a');
    expect(fds()).toBe(before);
  });

  it('--min-free: no room on the disk refuses a blob with STORE_FULL, and the relay keeps serving', async () => {
    const dir = tmpDir('hush-relay-blobs-full-');
    const first = await startRelayProcess({ dataDir: dir });
    await registerUsers(first.url, alice, bob); // registering needs free space too
    await first.stop();
    const full = await startRelayProcess({ dataDir: dir, args: ['--min-free', '1000t'] }); // more than any test machine has free
    try {
      const a = await alice.connect(full.url);
      expect(await code(a.blobBegin([bob.id.signPk], 100, 100, 1))).toBe('STORE_FULL');
      expect(await a.ping()).toBeGreaterThan(0);
      await a.close();
    } finally {
      await full.stop();
    }
  });

  // The disk filling up during an upload: the relay runs under RLIMIT_FSIZE (prlimit), so a write
  // past 1 MiB fails with EFBIG as it would with ENOSPC; no root or mount needed.
  it.skipIf(skipWithout('prlimit', whyNoPrlimit()))('a disk that fills during an upload: STORE_FULL, the chunk is not kept, the blob resumes once there is room', async () => {
    const dir = tmpDir('hush-relay-blobs-fsize-');
    const limited = await startRelayProcess({ dataDir: dir, fileSizeLimit: 1024 * 1024 });
    const BIG = 65552; // a full sealed chunk
    try {
      await registerUsers(limited.url, alice, bob);
      const a = await alice.connect(limited.url);
      const st = await a.blobBegin([bob.id.signPk], 32 * BIG, BIG, 32);
      let refused = -1;
      for (let i = 0; i < 32 && refused < 0; i++) {
        const got = await code(a.blobPut(st.blob, i, data(BIG, i)));
        if (got === 'STORE_FULL') refused = i;
        else expect(got).toBe('OK');
      }
      expect(refused).toBe(Math.floor((1024 * 1024) / BIG)); // the first chunk that would pass 1 MiB
      expect(statSync(join(dir, 'blobs', `${st.blob}.blob`)).size).toBe(refused * BIG); // whole chunks only
      expect(await a.blobResume(st.blob)).toMatchObject({ have: refused, done: false });
      expect(limited.log()).toMatch(/store-error .*op=blob-put error=EFBIG/);
      expect(await a.ping()).toBeGreaterThan(0); // still serving
      await a.close();
    } finally {
      await limited.stop();
    }
    // Room again (the same data directory without the limit): the upload resumes where it stopped.
    const roomy = await startRelayProcess({ dataDir: dir });
    try {
      const a = await alice.connect(roomy.url);
      const blob = readdirSync(join(dir, 'blobs'))
        .find((f) => f.endsWith('.blob'))!
        .slice(0, 32);
      const { have } = await a.blobResume(blob);
      for (let i = have; i < 32; i++) await a.blobPut(blob, i, data(BIG, i));
      expect(await a.blobFinish(blob)).toMatchObject({ have: 32, done: true });
      await a.close();
    } finally {
      await roomy.stop();
    }
  });
});
