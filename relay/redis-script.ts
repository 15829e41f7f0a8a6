/**
 * One Lua script of the Redis store (relay/redis-layout.ts holds their text): run by its SHA-1
 * with EVALSHA, loaded with EVAL when the server answers NOSCRIPT (after a restart or a
 * SCRIPT FLUSH). Shared by relay/store-redis.ts and relay/prekeys-redis.ts.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ioredis } from './cjs-deps.js';

export class Script {
  readonly sha: string;
  constructor(readonly text: string) {
    this.sha = createHash('sha1').update(text).digest('hex');
  }
}

/** Runs `s` with these KEYS and ARGV; `binary`: replies as Buffers (else auto-pipelined, strings and integers). */
export async function runScript(redis: Redis, s: Script, keyList: readonly string[], args: readonly (string | Buffer | number)[], binary = false): Promise<unknown> {
  const call = (cmd: 'evalsha' | 'eval', head: string): Promise<unknown> =>
    binary
      ? (redis.sendCommand(new (ioredis().Command)(cmd, [head, keyList.length, ...keyList, ...args], { replyEncoding: null })) as Promise<unknown>)
      : (redis[cmd](head, keyList.length, ...keyList, ...args) as Promise<unknown>);
  try {
    return await call('evalsha', s.sha);
  } catch (e) {
    if (!String((e as Error).message).startsWith('NOSCRIPT')) throw e;
    return await call('eval', s.text);
  }
}
