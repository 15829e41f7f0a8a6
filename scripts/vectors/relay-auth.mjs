// Relay authentication vectors (docs/PROTOCOL.md §7.3): canonical URLs, and the exact bytes a
// client signs to answer a relay's challenge, with the signature and what a relay concludes.
// Called from scripts/make-vectors.mjs; writes test/vectors/relay-auth.json.
import { codeOf } from './lib.mjs';
import { writeFileSync } from 'node:fs';

/**
 * @param {object} v  shared context of make-vectors.mjs: root, dist(path) -> URL, drbg(label),
 *                    ids (name -> Identity), T0
 */
export async function writeRelayAuthVectors({ root, dist, drbg, ids, T0 }) {
  const { authSignedBytes, canonicalRelayUrl } = await import(dist('protocol/frames.js'));
  const { signDetached, verifyDetached } = await import(dist('crypto/nacl.js'));
  const { toHex: hex } = await import(dist('protocol/encoding.js'));
  const code = codeOf;

  // --- canonical URLs ----------------------------------------------------------------------
  const urlCases = [
    ['ws://127.0.0.1:7070', 'already canonical'],
    ['ws://127.0.0.1:7070/', 'an empty path is written as nothing, not /'],
    ['WS://Relay.Example.COM:7070/', 'scheme and host lowercased'],
    ['ws://relay.example.com:80/', 'default port of ws: dropped'],
    ['wss://relay.example.com:443', 'default port of wss: dropped'],
    ['wss://relay.example.com:80', 'port 80 is not the default of wss: kept'],
    ['wss://relay.example.com/hush/', 'a non-empty path is kept as written, trailing / included'],
    ['wss://relay.example.com/hush', 'a path without trailing /'],
    ['ws://[::1]:7070/', 'IPv6 literal host in brackets'],
    ['ws://127.0.0.1:07070', 'leading zeros in the port: not canonical, refused (write the port plainly)'],
    ['ws://bücher.example/', 'a non-ASCII host: refused (write its punycode, xn--...)'],
    ['ws://relay.example.com/a/../b', 'dot segments: refused, not resolved'],
    ['ws://relay.example.com/a b', 'a path that is not already percent-encoded: refused'],
    ['ws://relay.example.com/?', 'a bare ? (an empty query): refused like any query'],
    ['ws://relay.example.com/#', 'a bare # (an empty fragment): refused like any fragment'],
    ['ws://2130706433:7070', 'a decimal IPv4 host: refused, not normalised (write 127.0.0.1)'],
    ['http://127.0.0.1:7070', 'only ws: and wss:'],
    ['https://relay.example.com', 'only ws: and wss:'],
    ['ws://alice:secret@relay.example.com', 'user info is refused'],
    ['ws://relay.example.com/?token=1', 'a query is refused'],
    ['ws://relay.example.com/#top', 'a fragment is refused'],
    ['relay.example.com:7070', 'not a URL with a ws: scheme'],
    ['', 'empty'],
  ].map(([input, note]) => {
    let canonical;
    const expect = code(() => (canonical = canonicalRelayUrl(input)));
    return { input, ...(expect === 'OK' ? { canonical } : {}), expect, note };
  });
  // Canonicalisation is idempotent.
  for (const c of urlCases) if (c.canonical !== undefined && canonicalRelayUrl(c.canonical) !== c.canonical) throw new Error(`url ${c.input}: not idempotent`);

  // --- signed bytes and signatures ---------------------------------------------------------
  const relay = 'ws://127.0.0.1:7070';
  const A = ids.alice;
  const B = ids.bob;
  const challenge = drbg('relay-auth/challenge').random(32);
  const other = drbg('relay-auth/other-challenge').random(32);
  const sign = (who, ch, url, time) => signDetached(authSignedBytes(ch, url, time), who.signSk);
  /** What a relay at `relay` that sent `challenge` answers to an auth frame (time skew aside). */
  const judge = (f) => {
    let claimed;
    try {
      claimed = canonicalRelayUrl(f.url);
    } catch {
      return 'AUTH_WRONG_URL';
    }
    if (claimed !== relay) return 'AUTH_WRONG_URL';
    return verifyDetached(authSignedBytes(challenge, relay, f.time), f.sig, f.signPk) ? 'OK' : 'AUTH_FAILED';
  };
  const authCases = [];
  const add = (name, who, url, time, sig, note) => {
    const f = { signPk: who.signPk, url, time, sig };
    const c = { name, identity: who === A ? 'alice' : 'bob', signPk: hex(who.signPk), url, time, sig: hex(sig), expect: judge(f) };
    if (note) c.note = note;
    authCases.push(c);
  };
  const signed = (name, who, url, time, note) => {
    const sb = authSignedBytes(challenge, canonicalRelayUrl(url), time);
    const sig = signDetached(sb, who.signSk);
    add(name, who, url, time, sig, note);
    Object.assign(authCases.at(-1), { canonicalUrl: canonicalRelayUrl(url), signedBytes: hex(sb) });
  };
  signed('alice-ok', A, relay, T0, 'the client signs the canonical form of the URL it meant to reach');
  signed('bob-ok', B, relay, T0 + 1);
  signed('url-with-slash-ok', A, 'ws://127.0.0.1:7070/', T0, 'the frame may carry any spelling; both sides sign the canonical one');
  signed('time-zero-ok', A, relay, 0, 'time is not covered by this check; the relay refuses it as AUTH_STALE');
  signed('time-2^48-ok', A, relay, 2 ** 48, 'the largest time a frame may carry');
  signed('other-relay', A, 'ws://127.0.0.1:7071', T0, 'signed for another relay: refused before the signature is checked');
  add('invalid-url', A, 'http://127.0.0.1:7070', T0, sign(A, challenge, relay, T0), 'a valid signature, but the frame names a URL that does not canonicalise');
  add('other-challenge', A, relay, T0, sign(A, other, relay, T0), "signed an earlier connection's challenge: a replayed auth frame");
  add('time-changed', A, relay, T0 + 1, sign(A, challenge, relay, T0), 'the frame time differs from the signed one');
  add('non-canonical-url-signed', A, relay, T0, sign(A, challenge, `${relay}/`, T0), 'signed the URL as typed (with /) instead of its canonical form');
  add('wrong-key', B, relay, T0, sign(A, challenge, relay, T0), "alice's signature presented for bob's key");
  {
    const s = sign(A, challenge, relay, T0);
    s[40] ^= 1;
    add('sig-flipped', A, relay, T0, s);
  }
  for (const c of authCases) if (!['OK', 'AUTH_FAILED', 'AUTH_WRONG_URL'].includes(c.expect)) throw new Error(`auth ${c.name}: ${c.expect}`);
  const badChallenge = code(() => authSignedBytes(challenge.subarray(0, 31), relay, T0));
  if (badChallenge !== 'BAD_CHALLENGE') throw new Error(`31-byte challenge: ${badChallenge}`);

  const json = {
    description: 'hush relay authentication vectors (docs/PROTOCOL.md §7.3); identities as in envelope.json; generated by scripts/vectors/relay-auth.mjs',
    urls: urlCases,
    relay,
    challenge: hex(challenge),
    auth: authCases,
    badChallenge: { challenge: hex(challenge.subarray(0, 31)), expect: badChallenge },
  };
  writeFileSync(`${root}test/vectors/relay-auth.json`, JSON.stringify(json, null, 2) + '\n');
  return `relay-auth.json (${urlCases.length} urls, ${authCases.length} auth)`;
}
