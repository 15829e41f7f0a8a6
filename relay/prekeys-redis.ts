/**
 * The v2 prekeys on the shared Redis store (docs/PROTOCOL.md §7.8.1): the PrekeyStore contract of
 * relay/prekeys-store.ts, each method one Lua script of relay/redis-layout.ts, so a one-time
 * prekey is handed out at most once however many relays share the Redis, and the --prekey-cap
 * check and the write it guards are one step.
 */
import type { Redis } from 'ioredis';
import type { PrekeyStatus, PrekeyUpload } from '../src/protocol/prekey-upload.js';
import type { PrekeyStore, TakenPrekeys } from './prekeys-store.js';
import { keys, PREKEY_DROP_LUA, PREKEY_PURGE_LUA, PREKEY_PUT_LUA, PREKEY_STATUS_LUA, PREKEY_TAKE_LUA, prekeyKeys } from './redis-layout.js';
import { runScript, Script } from './redis-script.js';

const S = {
  status: new Script(PREKEY_STATUS_LUA),
  put: new Script(PREKEY_PUT_LUA),
  take: new Script(PREKEY_TAKE_LUA),
  drop: new Script(PREKEY_DROP_LUA),
  purge: new Script(PREKEY_PURGE_LUA),
};
const SIG = 64;
const PURGE_BATCH = 1000;

const hex = (u: Uint8Array): string => Buffer.from(u.buffer, u.byteOffset, u.byteLength).toString('hex');
const buf = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength));
const u8 = (b: Buffer): Uint8Array => new Uint8Array(b);

/** The status script's reply {opks, kems, spk_id, spk_exp, lr_id} (nil when absent). */
function toStatus(r: unknown[]): PrekeyStatus {
  const s: PrekeyStatus = { opks: Number(r[0]), kems: Number(r[1]) };
  if (r[2] != null && r[3] != null) s.spk = { id: Number(r[2]), expires: Number(r[3]) };
  if (r[4] != null) s.lastResort = { id: Number(r[4]) };
  return s;
}

export class RedisPrekeyStore implements PrekeyStore {
  constructor(private readonly redis: Redis) {}

  async putPrekeys(signPk: Uint8Array, boxPk: Uint8Array, u: PrekeyUpload, cap: number): Promise<PrekeyStatus | 'too-many'> {
    const r = hex(signPk);
    const opks = u.opks ?? [];
    const args: (string | number | Buffer)[] = [
      r,
      buf(boxPk),
      cap,
      ...(u.spk ? [u.spk.id, u.spk.expires, buf(u.spk.pk), buf(u.spk.sig)] : ['', '', '', '']),
      ...(u.lastResort ? [u.lastResort.id, buf(u.lastResort.pk), buf(u.lastResort.sig)] : ['', '', '']),
      opks.length,
    ];
    for (const o of opks) args.push(o.id, buf(o.pk));
    for (const k of u.kems ?? []) args.push(k.id, Buffer.concat([buf(k.sig), buf(k.pk)]));
    const out = (await runScript(this.redis, S.put, prekeyKeys(r), args)) as unknown[];
    return Number(out[0]) === -1 && out.length === 1 ? 'too-many' : toStatus(out);
  }

  async takeBundle(signPk: Uint8Array, boxPk: Uint8Array, now: number, oneTime: boolean): Promise<TakenPrekeys | undefined> {
    const out = (await runScript(this.redis, S.take, prekeyKeys(hex(signPk)), [buf(boxPk), now, oneTime ? '1' : '0'], true)) as Buffer[];
    if (out.length === 0) return undefined;
    const n = (b: Buffer | undefined): number => Number(b!.toString());
    const kemVal = out[6]!;
    const taken: TakenPrekeys = {
      spk: { id: n(out[0]), expires: n(out[1]), pk: u8(out[2]!), sig: u8(out[3]!) },
      kem: { kind: out[4]!.toString() === 'one-time' ? 'one-time' : 'last-resort', id: n(out[5]), pk: u8(kemVal.subarray(SIG)), sig: u8(kemVal.subarray(0, SIG)) },
    };
    if (out.length >= 9) taken.opk = { id: n(out[7]), pk: u8(out[8]!) };
    return taken;
  }

  async prekeyStatus(signPk: Uint8Array): Promise<PrekeyStatus> {
    return toStatus((await runScript(this.redis, S.status, prekeyKeys(hex(signPk)), [])) as unknown[]);
  }

  async dropPrekeys(signPk: Uint8Array): Promise<void> {
    const r = hex(signPk);
    await runScript(this.redis, S.drop, prekeyKeys(r), [r]);
  }

  async purgeExpiredPrekeys(now: number): Promise<number> {
    let total = 0;
    for (;;) {
      const k = Number(await runScript(this.redis, S.purge, [keys.spkExpiry], [now, PURGE_BATCH]));
      total += k;
      if (k < PURGE_BATCH) return total;
    }
  }
}
