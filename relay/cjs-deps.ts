/**
 * The relay's CommonJS dependencies (ws, better-sqlite3, ioredis), loaded with require() when
 * first used. Importing them from ESM goes through Node 20's ESM loader, which reads each file
 * with an asynchronous read and runs a lexer over every CommonJS file it wraps; require() reads
 * synchronously, and a relay on SQLite never loads ioredis at all (docs/PERFORMANCE.md,
 * "Start-up"). Types come from `import type`, which costs nothing at run time.
 */
import { createRequire } from 'node:module';
import type BetterSqlite3 from 'better-sqlite3';
import type * as IoRedis from 'ioredis';
import type * as Ws from 'ws';

const load = createRequire(import.meta.url);

export const wsModule = (): typeof Ws => load('ws') as typeof Ws;
export const sqliteDriver = (): typeof BetterSqlite3 => load('better-sqlite3') as typeof BetterSqlite3;
export const ioredis = (): typeof IoRedis => load('ioredis') as typeof IoRedis;
