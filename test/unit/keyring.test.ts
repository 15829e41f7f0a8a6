/** Keyring wrap / unwrap / rewrap with the real Argon2id (at the floor, to stay fast). */
import { describe, expect, it } from 'vitest';
import { generateIdentity } from '../../src/crypto/identity.js';
import { checkKdfParams, deriveWrappingKey, openKeyring, rewrapKeyring, sealKeyring } from '../../src/crypto/keyring.js';
import { randomBytes } from '../../src/crypto/nacl.js';
import { toB64 } from '../../src/protocol/encoding.js';
import { KDF_CEILING, KDF_FLOOR, type KdfParams, type KeyringHeader, keyringToJson, parseKeyring } from '../../src/protocol/keyring-file.js';
import { argon2Kdf, codeOf, codeOfSync, utf8 } from './helpers.js';

const kdfParams = (over: Partial<KdfParams> = {}): KdfParams => ({ alg: 'argon2id', ...KDF_FLOOR, salt: randomBytes(16), ...over });

async function newKeyring(pass = 'hunter2 hunter2') {
  const id = generateIdentity(randomBytes);
  const header: KeyringHeader = { type: 'hush-keyring', v: 1, name: 'alice', created: Date.now(), signPk: id.signPk, boxPk: id.boxPk, kdf: kdfParams() };
  const wk = await deriveWrappingKey(argon2Kdf, utf8(pass), header.kdf);
  const file = sealKeyring(header, id, wk, randomBytes);
  return { id, file, text: keyringToJson(file), wk };
}

describe('keyring', () => {
  it('wraps and unwraps: the same identity comes back', async () => {
    const { id, text } = await newKeyring();
    const f = parseKeyring(text);
    const o = openKeyring(f, await deriveWrappingKey(argon2Kdf, utf8('hunter2 hunter2'), f.kdf));
    expect(o.identity.signSk).toEqual(id.signSk);
    expect(o.identity.boxSk).toEqual(id.boxSk);
    expect(o.identity.historyKey).toEqual(id.historyKey);
    expect(o.dataKey).toHaveLength(32);
  });

  it('holds no secret in clear: no secret key, seed or history key appears in the file, in any encoding', async () => {
    const { id, text } = await newKeyring();
    const secrets = [id.signSk.subarray(0, 32), id.boxSk, id.historyKey, id.signSk];
    for (const s of secrets) {
      expect(text).not.toContain(toB64(s));
      expect(text).not.toContain(Buffer.from(s).toString('hex'));
    }
    expect(text).toContain(toB64(id.signPk)); // public keys are in clear on purpose (whoami)
  });

  it('a wrong passphrase is WRONG_PASSPHRASE (a PassphraseError, exit code 3)', async () => {
    const { file } = await newKeyring();
    try {
      openKeyring(file, await deriveWrappingKey(argon2Kdf, utf8('hunter3 hunter3'), file.kdf));
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string }).code).toBe('WRONG_PASSPHRASE');
      expect((e as { exitCode: number }).exitCode).toBe(3);
    }
  });

  it('rewrap: new passphrase opens, old one does not, the secrets box is untouched', async () => {
    const { id, file, wk } = await newKeyring('old passphrase');
    const { dataKey } = openKeyring(file, wk);
    const kdf2 = kdfParams({ t: 2 });
    const wk2 = await deriveWrappingKey(argon2Kdf, utf8('new passphrase'), kdf2);
    const file2 = parseKeyring(keyringToJson(rewrapKeyring(file, dataKey, kdf2, wk2, randomBytes)));
    expect(file2.secrets).toEqual(file.secrets);
    expect(file2.kdf.salt).not.toEqual(file.kdf.salt);
    expect(openKeyring(file2, wk2).identity.boxSk).toEqual(id.boxSk);
    expect(await codeOf(async () => openKeyring(file2, await deriveWrappingKey(argon2Kdf, utf8('old passphrase'), file2.kdf)))).toBe('WRONG_PASSPHRASE');
    // The old file still opens with the old passphrase (passwd keeps it until the new one is on disk).
    expect(openKeyring(file, wk).identity.signPk).toEqual(id.signPk);
  });

  it('rewrap refuses a data key that does not open the secrets', async () => {
    const { file } = await newKeyring();
    expect(codeOfSync(() => rewrapKeyring(file, randomBytes(32), kdfParams(), randomBytes(32), randomBytes))).toBe('KEYRING_CORRUPT');
  });

  it('rewrap and seal refuse KDF parameters out of bounds', async () => {
    const { file, wk } = await newKeyring();
    const { dataKey, identity } = openKeyring(file, wk);
    expect(codeOfSync(() => rewrapKeyring(file, dataKey, kdfParams({ m: 1024 }), wk, randomBytes))).toBe('KDF_PARAMS_REFUSED');
    expect(codeOfSync(() => sealKeyring({ ...file, kdf: kdfParams({ t: 99 }) }, identity, wk, randomBytes))).toBe('KDF_PARAMS_REFUSED');
  });

  it('seal refuses a header that names other keys', async () => {
    const { file, wk } = await newKeyring();
    const other = generateIdentity(randomBytes);
    expect(codeOfSync(() => sealKeyring(file, other, wk, randomBytes))).toBe('BAD_KEYRING');
  });

  it('each header field is bound: a changed value never opens', async () => {
    const { text, wk } = await newKeyring();
    const edits: [string, (o: Record<string, unknown>) => void, string][] = [
      ['name', (o) => (o.name = 'mallory'), 'KEYRING_CORRUPT'],
      ['created', (o) => (o.created = 1), 'KEYRING_CORRUPT'],
      ['signPk', (o) => (o.signPk = toB64(randomBytes(32))), 'KEYRING_CORRUPT'],
      ['boxPk', (o) => (o.boxPk = toB64(randomBytes(32))), 'KEYRING_CORRUPT'],
      ['secrets.ct', (o) => ((o.secrets as Record<string, string>).ct = toB64(randomBytes(113))), 'KEYRING_CORRUPT'],
      ['wrap.ct', (o) => ((o.wrap as Record<string, string>).ct = toB64(randomBytes(80))), 'WRONG_PASSPHRASE'],
    ];
    for (const [field, edit, code] of edits) {
      const o = JSON.parse(text) as Record<string, unknown>;
      edit(o);
      // Same wrapping key (as from the keychain): only the header binding can catch it.
      expect(
        codeOfSync(() => openKeyring(parseKeyring(JSON.stringify(o)), wk)),
        field,
      ).toBe(code);
    }
  });

  it('any one byte of the file flipped: parsed, or one DataError that names what is wrong (never "undefined")', async () => {
    const { text } = await newKeyring();
    const orig = Buffer.from(text);
    let refused = 0;
    for (let at = 0; at < orig.length; at++) {
      const c = Buffer.from(orig);
      c[at] = c[at]! ^ 0x20;
      try {
        parseKeyring(c.toString('utf8'));
      } catch (e) {
        refused++;
        expect(
          codeOfSync(() => parseKeyring(c.toString('utf8'))),
          `byte ${at}`,
        ).toMatch(/^(BAD_SHAPE|BAD_BASE64|BAD_JSON|NOT_A_KEYRING|UNSUPPORTED_VERSION)$/);
        expect((e as Error).message, `byte ${at}`).not.toMatch(/undefined|NaN|\[object/);
        // Only a whole number other than 1 is "written by a newer hush".
        if (codeOfSync(() => parseKeyring(c.toString('utf8'))) === 'UNSUPPORTED_VERSION') expect(c.toString('utf8')).toMatch(/"v": \d+,/);
      }
    }
    expect(refused).toBeGreaterThan(orig.length / 2);
  });

  it('KDF bounds are checked before any work, at the edges', async () => {
    let calls = 0;
    const spy = async (_p: Uint8Array, _k: KdfParams) => (calls++, new Uint8Array(32));
    const bad: Partial<KdfParams>[] = [
      { m: KDF_FLOOR.m - 1 },
      { t: KDF_FLOOR.t - 1 },
      { p: KDF_FLOOR.p - 1 },
      { m: KDF_CEILING.m + 1 },
      { t: KDF_CEILING.t + 1 },
      { p: KDF_CEILING.p + 1 },
      { m: 1.5 * 8192 + 0.5 },
      { m: Number.NaN },
      { salt: new Uint8Array(15) },
      { alg: 'argon2i' as 'argon2id' },
    ];
    for (const over of bad) {
      expect(await codeOf(() => deriveWrappingKey(spy, utf8('x'), kdfParams(over))), JSON.stringify(over)).toBe('KDF_PARAMS_REFUSED');
    }
    expect(calls).toBe(0);
    for (const ok of [kdfParams(), kdfParams({ ...KDF_CEILING })]) expect(() => checkKdfParams(ok)).not.toThrow();
    await deriveWrappingKey(spy, utf8('x'), kdfParams());
    expect(calls).toBe(1);
  });

  it('a KDF returning the wrong length is refused', async () => {
    expect(await codeOf(() => deriveWrappingKey(async () => new Uint8Array(16), utf8('x'), kdfParams()))).toBe('KDF_OUTPUT');
  });
});
