// Name-transfer vectors (docs/PROTOCOL.md §7.2 "Transfer"): the bytes the holder of a name signs
// to give it to another key, the statement text `hush register --transfer-to` prints, what a
// relay concludes for good and forged transfers given who holds the name, and statements a
// reader refuses. Called from scripts/make-vectors.mjs; writes test/vectors/name-transfer.json.
import { writeFileSync } from 'node:fs';
import { codeOf } from './lib.mjs';

/**
 * @param {object} v  shared context of make-vectors.mjs: root, dist(path) -> URL, ids (name -> Identity)
 */
export async function writeNameTransferVectors({ root, dist, ids }) {
  const { encodeTransfer, parseTransfer, transferSignedBytes } = await import(dist('protocol/name-transfer.js'));
  const { signDetached, verifyDetached } = await import(dist('crypto/nacl.js'));
  const { bytesEqual, toB64, toHex: hex } = await import(dist('protocol/encoding.js'));
  const A = ids.alice;
  const B = ids.bob;
  const C = ids.carol;
  const who = (id) => Object.keys(ids).find((n) => ids[n] === id);

  // --- valid statements ----------------------------------------------------------------------
  const valid = [
    ['alice', A, B, 'alice gives her name to bob'],
    ['bob.2', B, C, 'a name with punctuation and a digit'],
  ].map(([name, from, to, note]) => {
    const signedBytes = transferSignedBytes(name, from.signPk, to.signPk);
    const sig = signDetached(signedBytes, from.signSk);
    const statement = encodeTransfer({ name, from: from.signPk, to: to.signPk, sig });
    const back = parseTransfer(statement);
    if (back.name !== name || !bytesEqual(back.sig, sig)) throw new Error(`${name}: statement does not round-trip`);
    return { note, name, from: who(from), to: who(to), fromPk: hex(from.signPk), toPk: hex(to.signPk), signedBytes: hex(signedBytes), sig: hex(sig), statement };
  });

  // --- what a relay concludes ----------------------------------------------------------------
  /** The relay's answer to `transfer` by the key `to` (its bundle named `name`) while `holder` holds the name (undefined: nobody). */
  const judge = (name, from, to, sig, holder) => {
    if (!verifyDetached(transferSignedBytes(name, from, to), sig, from)) return 'BAD_TRANSFER';
    if (!holder) return 'NOT_FOUND';
    if (bytesEqual(holder, to)) return 'OK'; // already moved: a resend changes nothing
    if (!bytesEqual(holder, from)) return 'NAME_TAKEN';
    return 'OK';
  };
  const sigAB = signDetached(transferSignedBytes('alice', A.signPk, B.signPk), A.signSk);
  const flipped = Uint8Array.from(sigAB);
  flipped[0] ^= 1;
  const relay = [
    ['the holder signed it', 'alice', A, B, sigAB, A, 'OK'],
    ['presented again after the move (bob holds it now)', 'alice', A, B, sigAB, B, 'OK'],
    ['signed by carol, naming alice as the holder', 'alice', A, B, signDetached(transferSignedBytes('alice', A.signPk, B.signPk), C.signSk), A, 'BAD_TRANSFER'],
    ['alice signed it over to carol, bob presents it', 'alice', A, B, signDetached(transferSignedBytes('alice', A.signPk, C.signPk), A.signSk), A, 'BAD_TRANSFER'],
    ['alice signed another name', 'alice', A, B, signDetached(transferSignedBytes('alice2', A.signPk, B.signPk), A.signSk), A, 'BAD_TRANSFER'],
    ['one bit of the signature flipped', 'alice', A, B, flipped, A, 'BAD_TRANSFER'],
    ['carol holds the name, not the signer', 'alice', A, B, sigAB, C, 'NAME_TAKEN'],
    ['nobody holds the name', 'alice', A, B, sigAB, undefined, 'NOT_FOUND'],
  ].map(([note, name, from, to, sig, holder, expect]) => {
    const got = judge(name, from.signPk, to.signPk, sig, holder?.signPk);
    if (got !== expect) throw new Error(`transfer ${note}: ${got}, expected ${expect}`);
    return { note, name, from: who(from), to: who(to), sig: hex(sig), holder: holder ? who(holder) : null, expect };
  });

  // --- statements a reader refuses -----------------------------------------------------------
  const good = JSON.parse(valid[0].statement);
  const invalid = [
    ['not JSON', 'hush-name-transfer alice'],
    ['a JSON array', '[]'],
    ['another type', JSON.stringify({ ...good, type: 'hush-keyring' })],
    ['version 2', JSON.stringify({ ...good, v: 2 })],
    ['version as a string', JSON.stringify({ ...good, v: '1' })],
    ['a name in capitals', JSON.stringify({ ...good, name: 'Alice' })],
    ['a name of 33 characters', JSON.stringify({ ...good, name: 'a'.repeat(33) })],
    ['from missing', JSON.stringify({ ...good, from: undefined })],
    ['from of 31 bytes', JSON.stringify({ ...good, from: toB64(A.signPk.subarray(1)) })],
    ['to not base64', JSON.stringify({ ...good, to: '!'.repeat(44) })],
    ['sig of 63 bytes', JSON.stringify({ ...good, sig: toB64(new Uint8Array(63)) })],
    ['longer than 4096 characters', JSON.stringify({ ...good, pad: 'x'.repeat(4096) })],
  ].map(([note, text]) => {
    const expect = codeOf(() => parseTransfer(text));
    if (expect !== 'BAD_TRANSFER') throw new Error(`statement ${note}: ${expect}`);
    return { note, text, expect };
  });

  const file = 'name-transfer.json';
  const ident = Object.fromEntries(['alice', 'bob', 'carol'].map((n) => [n, hex(ids[n].signPk)]));
  writeFileSync(`${root}test/vectors/${file}`, JSON.stringify({ domain: 'hush/v1/name-transfer', signPk: ident, valid, relay, invalid }, null, 2) + '\n');
  return `${file} (${valid.length} valid, ${relay.length} relay verdicts, ${invalid.length} invalid)`;
}
