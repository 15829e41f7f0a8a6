// Row v2-fetch: a v2 prekey bundle fetch round trip against a real relay process
// (`fetch-prekeys`, one one-time X25519 and one one-time ML-KEM prekey taken in one SQLite
// transaction each time), against a `ping` round trip on the same connection, interleaved in
// rounds so the machine's load falls on both alike. Also reports the bytes on the wire: the
// bundle answer frame, and the upload frame of a full refill (SPK, last resort, 200 OPKs, 50 KEM).
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { BENCH_RELAY_FLAGS, dist, fmtMs, median, now, ROOT, startServer, stopChild } from './lib.mjs';

export async function v2Fetch(opt) {
  const rounds = opt.quick ? 3 : 10;
  const iters = opt.quick ? 10 : 20;
  const n = rounds * iters;
  const nacl = await dist('src/crypto/nacl.js');
  const { generateIdentity } = await dist('src/crypto/identity.js');
  const { makeBundle } = await dist('src/crypto/bundle.js');
  const pk = await dist('src/crypto/prekeys.js');
  const { RelayClient } = await dist('src/client/relay-client.js');
  const { encodePrekeyUpload, MAX_UPLOAD_KEMS, MAX_UPLOAD_OPKS } = await dist('src/protocol/prekey-upload.js');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-prekeys-'));
  const flags = [...BENCH_RELAY_FLAGS, '--prekey-rate', '10000000', '--prekey-handouts', '10000000', '--prekey-cap', '100000'];
  const relay = await startServer(process.execPath, [path.join(ROOT, 'bin/hush-relay.js'), '--data', dataDir, ...flags]);
  const clients = [];
  try {
    const user = () => {
      const id = generateIdentity(nacl.randomBytes);
      return { id, opts: { signPk: id.signPk, sign: (m) => nacl.signDetached(m, id.signSk) } };
    };
    const alice = user();
    const bob = user();
    const a = await RelayClient.connect(relay.url, alice.opts);
    const b = await RelayClient.connect(relay.url, bob.opts);
    clients.push(a, b);
    await a.register(makeBundle(alice.id, 'bench-alice', Date.now()));
    // n one-time prekeys of each kind (n <= 200), uploaded before any timing: the signed keys
    // and every OPK in the first frame, the KEM prekeys 50 to a frame.
    const spk = pk.generateSignedPrekey(alice.id, 1, Date.now() + 7 * 86_400_000, nacl.randomBytes);
    const lastResort = pk.generateKemPrekey(alice.id, 1, 'last-resort', nacl.randomBytes);
    const kems = Array.from({ length: n }, (_, i) => pk.generateKemPrekey(alice.id, i, 'one-time', nacl.randomBytes));
    await a.publishPrekeys({ spk, lastResort, opks: Array.from({ length: n }, (_, i) => pk.generateOneTimePrekey(i, nacl.randomBytes)) });
    for (let i = 0; i < n; i += MAX_UPLOAD_KEMS) await a.publishPrekeys({ kems: kems.slice(i, i + MAX_UPLOAD_KEMS) });
    // The largest upload a client sends (a full refill): its bytes and its frame.
    const full = encodePrekeyUpload({
      spk,
      lastResort,
      opks: Array.from({ length: MAX_UPLOAD_OPKS }, (_, i) => ({ id: i, pk: spk.pk })),
      kems: Array.from({ length: MAX_UPLOAD_KEMS }, (_, i) => ({ ...lastResort, id: i })),
    });
    const refillBytes = full.length;
    const refillFrame = JSON.stringify({ v: 1, t: 'prekeys', id: '1', upload: Buffer.from(full).toString('base64') }).length;

    const pings = [];
    const fetches = [];
    let withOpk = 0;
    let bundleBytes = 0;
    for (let r = 0; r < rounds; r++) {
      let t0 = now();
      for (let i = 0; i < iters; i++) await b.ping();
      pings.push((now() - t0) / iters);
      t0 = now();
      for (let i = 0; i < iters; i++) {
        const bundle = await b.fetchBundle(alice.id.signPk);
        if (bundle?.opk) withOpk++;
        bundleBytes = bundle ? 1463 - (bundle.opk ? 0 : 36) : 0;
      }
      fetches.push((now() - t0) / iters);
    }
    if (withOpk !== n) throw new Error(`expected ${n} bundles with a one-time prekey, got ${withOpk}`);
    const ping = median(pings);
    const fetch = median(fetches);
    const answerFrame = JSON.stringify({ v: 1, t: 'prekey-bundle', id: '1', bundle: 'x'.repeat(Math.ceil(bundleBytes / 3) * 4) }).length;
    return {
      baseline: `${fmtMs(ping)} (ping round trip, same connection)`,
      ours: `${fmtMs(fetch)} per bundle fetch with one-time keys (${n}); bundle ${bundleBytes} B, answer frame ${answerFrame} B; full refill upload ${refillBytes} B (frame ${refillFrame} B)`,
      ratio: fetch / ping,
      target: 'reported',
      pass: true,
      values: { pingMs: ping, fetchMs: fetch, bundleBytes, answerFrame, refillBytes, refillFrame },
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await stopChild(relay.child);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
