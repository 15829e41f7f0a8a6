// Rows: relay throughput and latency against a bare `ws` forwarder, relay memory with 10,000
// idle authenticated connections. Both servers run as child processes; this process drives them
// with the same raw `ws` clients and the same precomputed frames.
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';
import { dist, fmtMB, fmtMs, fmtRate, now, percentile, ROOT, rssOf, startServer, stopChild, BENCH_RELAY_FLAGS } from './lib.mjs';

const PAIRS = 10;
const BODY = 200;

const relayFlags = (extra = []) => [...BENCH_RELAY_FLAGS, ...extra];

async function startHush(extra) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-relay-'));
  // HUSH_BENCH_PROFILE=DIR: the relay writes a CPU profile there when it stops (node --cpu-prof).
  const prof = process.env.HUSH_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HUSH_BENCH_PROFILE}`] : [];
  const s = await startServer(process.execPath, [...prof, path.join(ROOT, 'bin/hush-relay.js'), '--data', dataDir, ...relayFlags(extra)]);
  return {
    ...s,
    dataDir,
    stop: async () => {
      await stopChild(s.child);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startForwarder() {
  const s = await startServer(process.execPath, [path.join(ROOT, 'scripts/bench/forwarder.mjs')]);
  return { ...s, stop: () => stopChild(s.child) };
}

let mods;
export async function load() {
  mods ??= {
    nacl: await dist('src/crypto/nacl.js'),
    identity: await dist('src/crypto/identity.js'),
    frames: await dist('src/protocol/frames.js'),
    enc: await dist('src/protocol/encoding.js'),
    env: await dist('src/protocol/envelope.js'),
    seal: await dist('src/crypto/seal.js'),
    cbundle: await dist('src/crypto/bundle.js'),
    pbundle: await dist('src/protocol/bundle.js'),
    dtoken: await dist('src/protocol/delivery-token.js'),
  };
  return mods;
}

function open(url) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    ws.once('error', reject);
    ws.once('message', (d) => resolve({ ws, first: d.toString() }));
  });
}

/** An authenticated hush connection for `id` (the relay's hello, then auth, then ok). */
export async function hushConnect(relayUrl, id) {
  const { nacl, frames, enc } = await load();
  const { ws, first } = await open(relayUrl);
  const hello = JSON.parse(first);
  const time = Date.now();
  const sig = nacl.signDetached(frames.authSignedBytes(enc.fromB64(hello.challenge), relayUrl, time), id.signSk);
  ws.send(JSON.stringify({ v: 1, t: 'auth', id: 'a', signPk: enc.toB64(id.signPk), url: relayUrl, time, sig: enc.toB64(sig) }));
  const ok = await new Promise((r) => ws.once('message', (d) => r(d.toString())));
  if (!ok.includes('"t":"ok"')) throw new Error(`auth refused: ${ok}`);
  return ws;
}

/** Registers `id` on an authenticated connection (the relay refuses mail to unregistered keys). */
export async function hushRegister(ws, id, name) {
  const { cbundle, pbundle } = await load();
  ws.send(JSON.stringify({ v: 1, t: 'register', id: 'r', bundle: pbundle.bundleToJson(cbundle.makeBundle(id, name, Date.now())) }));
  const ok = await new Promise((r) => ws.once('message', (d) => r(d.toString())));
  if (!ok.includes('"t":"ok"')) throw new Error(`register refused: ${ok}`);
}

/** Registers a delivery token for the mailbox authenticated on `ws`; returns the token (base64). */
export async function hushToken(ws) {
  const { nacl, enc, dtoken } = await load();
  const token = nacl.randomBytes(32);
  ws.send(JSON.stringify({ v: 1, t: 'tokens', id: 'k', add: [{ h: enc.toB64(dtoken.tokenHash(token)), exp: Date.now() + 3600_000 }] }));
  const ok = await new Promise((r) => ws.once('message', (d) => r(d.toString())));
  if (!ok.includes('"t":"ok"')) throw new Error(`tokens refused: ${ok}`);
  return enc.toB64(token);
}

/**
 * Precomputed send frames: blind-relay envelopes of the length a 200-byte message seals to,
 * each with a delivery token (sealed sender: how contacts send, checked by the relay per send).
 */
export async function makeFrames(n, toPk, token) {
  const { nacl, enc, env, seal } = await load();
  const party = () => {
    const sk = nacl.randomBytes(32);
    return { boxSk: sk, boxPk: nacl.x25519Base(sk), signPk: nacl.randomBytes(32) };
  };
  const len = seal.sealEnvelope(party(), party(), { kind: 'msg', id: nacl.randomBytes(16), time: Date.now(), body: new Uint8Array(BODY) }, nacl.randomBytes).length;
  const to = enc.toB64(toPk);
  const out = [];
  for (let i = 0; i < n; i++) {
    const e = nacl.randomBytes(len);
    e[0] = env.ENVELOPE_VERSION;
    const eid = env.envelopeId(e);
    out.push({ eid, text: `{"v":1,"t":"send","id":"s${i}","to":"${to}","env":"${enc.toB64(e)}","eid":"${eid}","token":"${token}"}` });
  }
  return { frames: out, envLen: len };
}

const eidOf = (text) => {
  const i = text.indexOf('"eid":"');
  return i < 0 ? undefined : text.slice(i + 7, i + 39);
};

/** Opens PAIRS sender and recipient sockets on either server; returns them and per-pair frames. */
async function connectPairs(kind, server, perPair) {
  const { nacl, identity, enc } = await load();
  const pairs = [];
  for (let k = 0; k < PAIRS; k++) {
    const b = identity.generateIdentity(nacl.randomBytes);
    let send, recv;
    let token = enc.toB64(nacl.randomBytes(32)); // the forwarder gets the same frames, token included
    if (kind === 'hush') {
      // The recipient registers and hands out a token; the sender never authenticates (as a contact).
      recv = await hushConnect(server.url, b);
      await hushRegister(recv, b, `bench-${k}`);
      token = await hushToken(recv);
      send = (await open(server.url)).ws;
    } else {
      recv = (await open(`${server.url}/recv/${k}`)).ws;
      send = (await open(`${server.url}/send/${k}`)).ws;
    }
    const { frames, envLen } = await makeFrames(perPair, b.signPk, token);
    pairs.push({ send, recv, frames, envLen });
  }
  return pairs;
}

export function closeAll(pairs) {
  for (const p of pairs) {
    p.send.terminate();
    p.recv.terminate();
  }
}

/** Every sender keeps `window` sends in flight; resolves msgs/s from the first send to the last push. */
export function pump(pairs, window) {
  return new Promise((resolve, reject) => {
    const total = pairs.reduce((s, p) => s + p.frames.length, 0);
    let received = 0;
    const t0 = now();
    for (const p of pairs) {
      let next = 0;
      const sendOne = () => {
        if (next < p.frames.length) p.send.send(p.frames[next++].text);
      };
      p.send.on('message', (d) => {
        const s = d.toString();
        if (s.includes('"t":"error"')) reject(new Error(`relay refused a send: ${s}`));
        sendOne();
      });
      p.recv.on('message', () => {
        if (++received === total) resolve(total / ((now() - t0) / 1000));
      });
      for (let i = 0; i < window; i++) sendOne();
    }
  });
}

async function throughputOf(kind, perPair) {
  const server = kind === 'hush' ? await startHush(['--auth-timeout', '600s']) : await startForwarder();
  try {
    const pairs = await connectPairs(kind, server, perPair);
    const rate = await pump(pairs, 64);
    closeAll(pairs);
    return { rate, envLen: pairs[0].envLen };
  } finally {
    await server.stop();
  }
}

export async function relayThroughput(opt) {
  const perPair = opt.quick ? 300 : 3000;
  const base = await throughputOf('ws', perPair);
  const ours = await throughputOf('hush', perPair);
  const ratio = ours.rate / base.rate;
  return {
    baseline: `${fmtRate(base.rate)} (bare ws forwarder)`,
    ours: `${fmtRate(ours.rate)} durable (${PAIRS} pairs × ${perPair}, ${ours.envLen} B envelopes, window 64)`,
    ratio,
    pass: ratio >= 0.5,
    target: '≥ 0.5x',
    values: { baseRate: base.rate, oursRate: ours.rate },
  };
}

/** Each sender sends one envelope every `periodMs`; latency send -> push, matched by eid. */
export function paced(pairs, periodMs, seconds, warmupS) {
  return new Promise((resolve, reject) => {
    const sentAt = new Map();
    const lat = [];
    const tEnd = now() + (warmupS + seconds) * 1000;
    const tMeasure = now() + warmupS * 1000;
    for (const p of pairs) {
      p.send.on('message', (d) => {
        const s = d.toString();
        if (s.includes('"t":"error"')) reject(new Error(`relay refused a send: ${s}`));
      });
      p.recv.on('message', (d) => {
        const t = now();
        const eid = eidOf(d.toString());
        const t0 = sentAt.get(eid);
        if (t0 !== undefined && t0 >= tMeasure) lat.push(t - t0);
        sentAt.delete(eid);
      });
    }
    let i = 0;
    const timer = setInterval(() => {
      if (now() >= tEnd) {
        clearInterval(timer);
        setTimeout(() => resolve(lat), 500);
        return;
      }
      for (const p of pairs) {
        const f = p.frames[i % p.frames.length];
        sentAt.set(f.eid, now());
        p.send.send(f.text);
      }
      i++;
    }, periodMs);
  });
}

async function latencyOf(kind, seconds) {
  const server = kind === 'hush' ? await startHush(['--auth-timeout', '600s']) : await startForwarder();
  try {
    const pairs = await connectPairs(kind, server, Math.ceil((seconds + 1) * 100) + 10);
    const lat = await paced(pairs, 10, seconds, 0.5);
    closeAll(pairs);
    return { p50: percentile(lat, 50), p99: percentile(lat, 99), n: lat.length };
  } finally {
    await server.stop();
  }
}

/** The disk's own floor for a durable send: write + fdatasync of 4 KiB, in the relay's temp dir. */
function fsyncTimes(n) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hush-bench-fsync-'));
  const fd = openSync(path.join(dir, 'f'), 'w');
  const buf = Buffer.alloc(4096, 7);
  const xs = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = now();
      writeSync(fd, buf);
      fdatasyncSync(fd);
      xs.push(now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
  return { p50: percentile(xs, 50), p99: percentile(xs, 99) };
}

export async function relayLatency(opt) {
  const seconds = opt.quick ? 1 : 5;
  const base = await latencyOf('ws', seconds);
  const ours = await latencyOf('hush', seconds);
  const disk = fsyncTimes(opt.quick ? 50 : 300);
  const ratio = ours.p50 / base.p50;
  return {
    baseline: `p50 ${fmtMs(base.p50)}, p99 ${fmtMs(base.p99)} (disk fdatasync alone: p50 ${fmtMs(disk.p50)}, p99 ${fmtMs(disk.p99)})`,
    ours: `p50 ${fmtMs(ours.p50)}, p99 ${fmtMs(ours.p99)} (${PAIRS} senders × 100 msg/s, n=${ours.n})`,
    ratio,
    pass: ratio <= 2 && ours.p99 < 10,
    target: 'p50 ≤ 2x, p99 < 10 ms',
    values: { base, ours, disk },
  };
}

export async function relayMemory() {
  // The full 10,000 in --quick too (~10 s): per-connection cost is not linear at small counts.
  const n = 10_000;
  const fds = Number(spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).stdout.trim());
  if (Number.isFinite(fds) && fds < n + 500) {
    return { baseline: '—', ours: '—', target: '< 200 MB added', skipped: `skipped (ulimit -n is ${fds}; ${n + 500} needed)` };
  }
  const { nacl, identity } = await load();
  const server = await startHush(['--max-conns', String(n + 100), '--heartbeat', '10m']);
  const sockets = [];
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const none = rssOf(server.child.pid);
    const ids = Array.from({ length: 100 }, () => identity.generateIdentity(nacl.randomBytes));
    const batch = 200;
    for (let i = 0; i < n; i += batch) {
      const got = await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, j) => hushConnect(server.url, ids[(i + j) % ids.length])));
      sockets.push(...got);
    }
    await new Promise((r) => setTimeout(r, 2000));
    const withConns = rssOf(server.child.pid);
    const added = withConns - none;
    const full = (added * 10_000) / n;
    return {
      baseline: `${fmtMB(none)} RSS with none`,
      ours: `${fmtMB(withConns)} with ${n.toLocaleString('en-US')} (+${fmtMB(added)}${n === 10_000 ? '' : `, ×${10_000 / n} = +${fmtMB(full)}`}; ${(added / n / 1024).toFixed(1)} KiB each)`,
      ratio: withConns / none,
      pass: full < 200 * 1048576,
      target: '< 200 MB added',
      values: { none, withConns, n },
    };
  } finally {
    for (const s of sockets) s.terminate();
    await server.stop();
  }
}
