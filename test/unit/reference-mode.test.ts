/**
 * HUSH_CRYPTO=reference switches every primitive to tweetnacl. The same vectors must hold.
 * (vitest isolates modules per test file, so setting the variable before the dynamic imports
 * gives this file its own reference-mode copy of src/crypto.)
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { codeOfSync, hex, tape, unhex, vectors } from './helpers.js';

process.env.HUSH_CRYPTO = 'reference';
let seal: typeof import('../../src/crypto/seal.js');
let identity: typeof import('../../src/crypto/identity.js');
let bundle: typeof import('../../src/crypto/bundle.js');
let fp: typeof import('../../src/crypto/fingerprint.js');
let pbundle: typeof import('../../src/protocol/bundle.js');
let backend: string;
beforeAll(async () => {
  backend = (await import('../../src/crypto/nacl.js')).backend;
  seal = await import('../../src/crypto/seal.js');
  identity = await import('../../src/crypto/identity.js');
  bundle = await import('../../src/crypto/bundle.js');
  fp = await import('../../src/crypto/fingerprint.js');
  pbundle = await import('../../src/protocol/bundle.js');
});

describe('reference mode (tweetnacl only)', () => {
  it('is really in reference mode', () => {
    expect(backend).toBe('reference');
  });

  it('reproduces every envelope and every open outcome, bundles and fingerprints', () => {
    const ev = vectors('envelope');
    const ids = Object.fromEntries(Object.entries(ev.identities as Record<string, { secrets: string }>).map(([n, v]) => [n, identity.identityFromSecrets(unhex(v.secrets))]));
    for (const c of ev.seal) {
      const env = seal.sealEnvelope(ids[c.from]!, ids[c.to]!, { kind: c.kind, id: unhex(c.id), time: c.time, body: unhex(c.body) }, tape(c.random));
      expect(hex(env), c.name).toBe(c.envelope);
    }
    for (const c of ev.open) {
      const contacts = (c.contacts as string[]).map((n) => ids[n]!);
      const got = codeOfSync(() => seal.openEnvelope(ids[c.to]!, unhex(c.envelope), (pk) => contacts.find((p) => hex(p.signPk) === hex(pk))));
      expect(got, c.name).toBe(c.expect);
    }
    const bv = vectors('bundle');
    for (const c of bv.valid) expect(hex(bundle.makeBundle(ids[c.identity]!, c.name, c.created).sig)).toBe(c.sig);
    for (const c of bv.invalid)
      expect(
        codeOfSync(() => bundle.verifyBundle(pbundle.parseBundle(c.json))),
        c.name,
      ).toBe(c.expect);
    for (const c of vectors('fingerprint').fingerprints) expect(fp.fingerprint(unhex(c.signPk))).toBe(c.fingerprint);
  }, 120_000);

  it('computes the store tags of the vectors (keyedTag16 on tweetnacl, its joined copy wiped)', async () => {
    const codec = await import('../../src/store/db-codec.js');
    const v = vectors('store') as { historyKey: string; msgTags: { msgId: string; tag: string }[] };
    const key = unhex(v.historyKey);
    expect(v.msgTags.length).toBeGreaterThan(0);
    for (const c of v.msgTags) expect(hex(codec.msgTag(unhex(c.msgId), key))).toBe(c.tag);
  });
});
