// The two `hush daemon` rows of issue 17 (group `daemon`), beside `e2e-daemon` in cli.mjs.
// Both use the CLI rows' world (one relay child, homes alice and bob with pinned keys, floor
// Argon2id) and start a real `hush daemon` for alice, stopped when the row ends.
//
//   daemon-send  `hush send bob TEXT` wall time with alice's daemon running, against
//                `node -e 0`, interleaved in rounds: the CLI's cost of a send (goal ≤ 1.2x).
//   daemon-rpc   a Node client on the daemon's socket sends N `send` requests, at most
//                WINDOW in flight, and counts the distinct message ids the relay accepted
//                (each answer's `sent` lines): the sustained rate (goal ≥ 1,000/s).
import net from 'node:net';
import path from 'node:path';
import { getWorld } from './cli.mjs';
import { dist, fmtMs, fmtRate, median, now, percentile, ROOT, run, startServer, stopChild } from './lib.mjs';

const HUSH = path.join(ROOT, 'bin/hush.js');
const NODE = process.execPath;

/** Runs `fn(world, socketPath)` with a `hush daemon` of alice's home running. */
async function withDaemon(fn) {
  const w = await getWorld();
  const d = await startServer(NODE, [HUSH, '--home', w.home('alice'), 'daemon'], { env: w.env });
  if (!d.url.startsWith('hush daemon ready:')) throw new Error(`unexpected daemon line: ${d.url}`);
  try {
    const { daemonPaths } = await dist('src/daemon/socket-path.cjs');
    return await fn(w, daemonPaths(w.home('alice')).socket);
  } finally {
    await stopChild(d.child);
    // What alice's daemon sent waits in bob's mailbox: pulled now, so that a later row (pull-10k
    // after send-lines) pulls only its own messages.
    await w.hush('bob', ['pull'], { stdout: 'ignore' });
  }
}

export async function daemonSend(opt) {
  return withDaemon(async (w) => {
    const n = opt.quick ? 5 : 25;
    const per = { node: [], help: [], hush: [] };
    // No passphrase in the CLI's environment: a send that did not go through the daemon would
    // have to unlock, find no passphrase and fail, so every timed send is a daemon send.
    const env = { ...w.env };
    delete env.HUSH_PASSPHRASE;
    for (let i = 0; i < n + 2; i++) {
      const a = await run(NODE, ['-e', '0'], { stdout: 'ignore' });
      if (a.code !== 0) throw new Error(`node -e 0 exited ${a.code}`);
      // The CLI's own start-up (what every command pays before it can reach the daemon).
      const h = await run(NODE, [HUSH, '--help'], { stdout: 'ignore' });
      if (h.code !== 0) throw new Error(`hush --help exited ${h.code}`);
      const b = await w.hush('alice', ['send', 'bob', `via the daemon ${i}`], { env });
      if (i >= 2) {
        // two warm-up rounds (page cache, the daemon's first send)
        per.node.push(a.ms);
        per.help.push(h.ms);
        per.hush.push(b.ms);
      }
    }
    const t = { node: median(per.node), help: median(per.help), hush: median(per.hush), nodeP90: percentile(per.node, 90), hushP90: percentile(per.hush, 90) };
    const ratio = t.hush / t.node;
    return {
      baseline: `${fmtMs(t.node)} (\`node -e 0\`; p90 ${fmtMs(t.nodeP90)})`,
      ours: `${fmtMs(t.hush)} (\`hush send bob TEXT\` through alice's daemon; p90 ${fmtMs(t.hushP90)}; ${n} rounds; \`hush --help\` in the same rounds: ${fmtMs(t.help)})`,
      ratio,
      pass: ratio <= 1.2,
      target: '≤ 1.2x',
      values: t,
    };
  });
}

/**
 * Sends `n` JSON-RPC `send` requests on one connection, at most `window` unanswered at a
 * time; resolves { ms, ids, errors, latencies } once every request is answered.
 */
function rpcSends(socketPath, n, window) {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    const ids = new Set();
    const errors = [];
    const started = new Map();
    const latencies = [];
    let next = 0;
    let answered = 0;
    let t0;
    let buf = '';
    const pump = () => {
      while (next < n && next - answered < window) {
        const id = next++;
        started.set(id, now());
        s.write(JSON.stringify({ jsonrpc: '2.0', id, method: 'send', params: { to: 'bob', text: `rpc bench ${id}: the quick brown fox jumps over the lazy dog` } }) + '\n');
      }
    };
    s.once('connect', () => {
      t0 = now();
      pump();
    });
    s.on('error', reject);
    s.on('close', () => {
      if (answered < n) reject(new Error(`the daemon closed the connection after ${answered} of ${n} answers`));
    });
    s.setEncoding('utf8');
    s.on('data', (chunk) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        const msg = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        if (msg.method !== undefined || !started.has(msg.id)) continue;
        latencies.push(now() - started.get(msg.id));
        started.delete(msg.id);
        answered++;
        if (msg.error) errors.push(`${msg.error.code} ${msg.error.message}`);
        else for (const line of msg.result.sent) if (line.to === 'bob') ids.add(line.id);
        if (answered === n) {
          const ms = now() - t0;
          s.end();
          resolve({ ms, ids, errors, latencies });
        } else pump();
      }
    });
  });
}

export async function daemonRpc(opt) {
  return withDaemon(async (w, socketPath) => {
    const n = opt.quick ? 300 : 3000;
    const window = 64;
    await rpcSends(socketPath, 20, window); // warm-up: the daemon's first sends
    const r = await rpcSends(socketPath, n, window);
    if (r.errors.length > 0) throw new Error(`${r.errors.length} of ${n} sends failed, first: ${r.errors[0]}`);
    // Every answer's `sent` lines carry the id the relay accepted; a send that flushed an
    // older outbox message may report it, so count distinct ids: n new ones, nothing lost.
    if (r.ids.size < n) throw new Error(`the relay accepted ${r.ids.size} of ${n} messages`);
    const rate = n / (r.ms / 1000);
    return {
      baseline: '—',
      ours: `${fmtRate(rate)} (${n.toLocaleString('en-US')} \`send\` requests, ${window} in flight, ${fmtMs(r.ms)}; each answered after the relay took it, latency p50 ${fmtMs(median(r.latencies))}, p90 ${fmtMs(percentile(r.latencies, 90))})`,
      ratio: undefined,
      pass: rate >= 1000,
      target: '≥ 1,000 msg/s',
      values: { rate, ms: r.ms, n, window, accepted: r.ids.size },
    };
  });
}
