/**
 * The corpus of malformed client frames of the hostile suite: every class of bad input, each
 * with the answers the relay may give (docs/PROTOCOL.md §7.6 codes, or the ordinary answer
 * when the frame happens to be valid, since unknown fields are ignored).
 */
import { randomBytes } from '../../src/crypto/nacl.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { envelopeId } from '../../src/protocol/envelope.js';
import { makeUser, seal } from '../integration/helpers.js';

/** Every malformed frame class, as the exact text (or bytes) put on the wire. */
export function malformedCorpus(relayUrl: string): { name: string; data: string | Buffer; codes: string[] }[] {
  const pk = toB64(randomBytes(32));
  const env = seal(makeUser(), makeUser(), 'corpus');
  const envB64 = toB64(env);
  const eid = envelopeId(env);
  const BAD = ['BAD_FRAME'];
  const c: { name: string; data: string | Buffer; codes: string[] }[] = [];
  const add = (name: string, data: string | Buffer | object, codes = BAD): void => {
    c.push({ name, data: typeof data === 'string' || Buffer.isBuffer(data) ? data : JSON.stringify(data), codes });
  };
  // binary
  add('binary json', Buffer.from(JSON.stringify({ v: 1, t: 'ping', id: 'b' })));
  // A binary message long enough to be a blob frame is read as one (§7.9.1): its first byte is the
  // version, its second the type, each refused with its own code.
  add('binary random', Buffer.from(randomBytes(4096)), ['BAD_FRAME', 'UNSUPPORTED_VERSION', 'UNKNOWN_TYPE', 'AUTH_REQUIRED']);
  // not json
  for (const s of ['', ' ', 'ping', '{', '}', '{"v":1,', 'nul', 'NaN', 'undefined', '{v:1,t:"ping",id:"x"}', "{'v':1}", '{"v":1}x', '\u0000', '\ufeff{}'])
    add(`not json ${JSON.stringify(s)}`, s);
  // not an object
  for (const s of ['null', 'true', '0', '-1e999', '"str"', '[]', '[{"v":1,"t":"ping","id":"x"}]']) add(`not an object ${s}`, s);
  // wrong shapes and types, for every frame type
  const types = ['auth', 'register', 'lookup', 'release', 'transfer', 'send', 'pull', 'ack', 'ping'];
  const junk: unknown[] = [null, true, 0, -1, 1.5, 2 ** 60, '', 'x', [], {}, [1], { a: 1 }];
  // A frame that happens to be valid gets its ordinary answer (unknown fields are ignored).
  const success: Record<string, string[]> = { ping: ['pong'], pull: ['mail'], ack: ['ok'], lookup: ['NOT_FOUND'], release: ['NOT_FOUND'], register: ['BAD_BUNDLE'] };
  for (const t of types) {
    for (const j of junk) {
      if (j !== 'x') add(`${t} id=${JSON.stringify(j)}`, { v: 1, t, id: j });
      for (const field of ['signPk', 'url', 'time', 'sig', 'bundle', 'name', 'from', 'to', 'env', 'eid', 'after', 'limit', 'eids', 'ephemeral']) {
        add(`${t}.${field}=${JSON.stringify(j)}`, { v: 1, t, id: 'x', [field]: j }, ['BAD_FRAME', 'BAD_ENVELOPE', 'AUTH_REQUIRED', ...(success[t] ?? [])]);
      }
    }
  }
  for (const v of [0, 2, -1, '1', null, [], {}, 1.0000001]) add(`version ${JSON.stringify(v)}`, { v, t: 'ping', id: 'x' }, ['UNSUPPORTED_VERSION']);
  for (const t of ['PING', 'hello', 'push', 'mail', 'error', '__proto__', 'constructor', 'x'.repeat(10_000)]) add(`type ${t.slice(0, 20)}`, { v: 1, t, id: 'x' }, ['UNKNOWN_TYPE']);
  // prototype games
  add('__proto__ id', '{"v":1,"t":"ping","__proto__":{"id":"x"}}');
  add('constructor payload', '{"v":1,"t":"auth","id":"x","constructor":{"prototype":{"ok":1}}}');
  add('duplicate keys', '{"v":1,"t":"ping","id":"x","id":{"a":1}}');
  // giant strings and arrays (inside the frame limit)
  add('giant id', { v: 1, t: 'ping', id: 'x'.repeat(120_000) });
  add('giant url', { v: 1, t: 'auth', id: 'x', signPk: pk, url: 'ws://' + 'a'.repeat(120_000), time: Date.now(), sig: toB64(new Uint8Array(64)) });
  add('giant name', { v: 1, t: 'lookup', id: 'x', name: 'a'.repeat(120_000) }, ['BAD_FRAME', 'AUTH_REQUIRED']);
  add('giant eids array', { v: 1, t: 'ack', id: 'x', eids: Array.from({ length: 20_000 }, () => 1) }, ['BAD_FRAME', 'AUTH_REQUIRED']);
  add('giant array of arrays', '{"v":1,"t":"ping","id":"x","pad":[' + Array(30_000).fill('[]').join(',') + ']}', ['BAD_FRAME', 'pong']);
  add('giant object', '{"v":1,"t":"ping","id":"x",' + Array.from({ length: 8000 }, (_, i) => `"k${i}":0`).join(',') + '}', ['BAD_FRAME', 'pong']);
  add('giant unicode escapes', '{"v":1,"t":"ping","id":"' + '\\ud800'.repeat(20_000) + '"}');
  add('giant number', '{"v":1,"t":"pull","id":"x","after":' + '9'.repeat(100_000) + '}', ['BAD_FRAME', 'AUTH_REQUIRED']);
  // deep nesting, just past the limit and far past it
  for (const d of [5, 6, 100, 10_000, 40_000]) {
    add(`nesting ${d} arrays`, '{"v":1,"t":"ping","id":"x","n":' + '['.repeat(d) + ']'.repeat(d) + '}');
    add(`nesting ${d} objects`, '{"v":1,"t":"ping","id":"x","n":' + '{"a":'.repeat(Math.min(d, 20_000)) + '0' + '}'.repeat(Math.min(d, 20_000)) + '}');
    add(`nesting ${d} unclosed`, '['.repeat(d));
  }
  // invalid base64 and wrong lengths in every byte field
  const b64Bad = [
    '',
    '=',
    '====',
    'A',
    'AA',
    'AAA=',
    'A===',
    '****',
    'AAAA\n',
    ' AAAA',
    'AAAA ',
    '-_-_',
    toB64(randomBytes(31)),
    toB64(randomBytes(33)),
    toB64(randomBytes(32)).replace(/=$/, ''),
    toB64(randomBytes(64)).slice(0, -4),
  ];
  for (const s of b64Bad) {
    add(`auth.signPk ${JSON.stringify(s)}`, { v: 1, t: 'auth', id: 'x', signPk: s, url: relayUrl, time: Date.now(), sig: toB64(new Uint8Array(64)) });
    add(`auth.sig ${JSON.stringify(s)}`, { v: 1, t: 'auth', id: 'x', signPk: pk, url: relayUrl, time: Date.now(), sig: s });
    add(`send.to ${JSON.stringify(s)}`, { v: 1, t: 'send', id: 'x', to: s, env: envB64, eid }, ['BAD_FRAME', 'AUTH_REQUIRED']);
    add(`send.env ${JSON.stringify(s)}`, { v: 1, t: 'send', id: 'x', to: pk, env: s, eid }, ['BAD_ENVELOPE', 'BAD_FRAME', 'AUTH_REQUIRED']);
    add(`lookup.signPk ${JSON.stringify(s)}`, { v: 1, t: 'lookup', id: 'x', signPk: s }, ['BAD_FRAME', 'AUTH_REQUIRED']);
  }
  return c;
}
