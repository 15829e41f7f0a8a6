/**
 * The wire format of `hush daemon` (docs/RPC.md): JSON-RPC 2.0, one JSON object per line
 * ("\n"-terminated UTF-8) on a Unix socket, in both directions. Pure: parsing, validation and
 * encoding only, no I/O. The daemon server (./server.ts) and the CLI's connector
 * (./connector.ts) both speak it through this module.
 *
 * Version: this is RPC format 1. A request may carry no version of its own (JSON-RPC's
 * "jsonrpc": "2.0" is the only one checked); `daemon.hello` answers `rpc: 1`, so a client can
 * tell a future format apart.
 */
import { ExitCode, isHushError } from '../errors.js';

export const RPC_VERSION = 1;
/** The longest request line the daemon reads (bytes, newline excluded); longer: -32600 and the connection closes. */
export const DEFAULT_MAX_LINE_BYTES = 1024 * 1024;

/** The commands a client may hand to the daemon with cli.run (the CLI does so by itself). */
export const DAEMON_COMMANDS: ReadonlySet<string> = new Set(['send', 'pull', 'history', 'contacts', 'verify']);

/** Environment variables of the client that a command run for it sees (the rest is the daemon's). */
export const CLIENT_ENV_KEYS = ['HUSH_RELAY', 'HUSH_RELAY_TIMEOUT', 'HUSH_TOKEN_LIFETIME', 'NO_COLOR', 'HUSH_DEBUG'] as const;

/** JSON-RPC 2.0's own error codes. */
export const RpcCode = {
  parseError: -32700,
  invalidRequest: -32600,
  methodNotFound: -32601,
  invalidParams: -32602,
  internalError: -32603,
} as const;

/**
 * Application errors: -32000 - exit code, so a client maps them back to hush's exit codes
 * (README "Exit codes"): -32001 internal (1), -32002 usage (2), -32003 passphrase (3), -32004
 * relay (4), -32005 trust (5), -32006 data (6). `data.code` is hush's stable error code.
 */
export const APP_CODE_BASE = -32000;

export function appCode(exitCode: number): number {
  return APP_CODE_BASE - exitCode;
}

/** The exit code a CLI prints for an RPC error code (1 for anything unknown). */
export function exitCodeOf(rpcCode: number): number {
  const e = APP_CODE_BASE - rpcCode;
  return e >= 1 && e <= 6 ? e : ExitCode.internal;
}

export type RpcId = string | number | null;

export interface RpcRequest {
  jsonrpc: '2.0';
  method: string;
  params: Record<string, unknown>;
  /** Absent for a notification (no answer is sent). */
  id?: RpcId;
}

export interface RpcErrorObject {
  code: number;
  message: string;
  data?: { code?: string; hint?: string; exitCode?: number };
}

export interface RpcResponse {
  jsonrpc: '2.0';
  id: RpcId;
  result?: unknown;
  error?: RpcErrorObject;
}

export interface RpcNotification {
  jsonrpc: '2.0';
  method: string;
  params: Record<string, unknown>;
}

/** An error to answer with (the server turns it into the response's `error`). */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: RpcErrorObject['data'],
  ) {
    super(message);
  }
}

/** What one line turned out to be: a request to dispatch, or the error response to send back. */
export type ParsedLine = { ok: true; request: RpcRequest } | { ok: false; response: RpcResponse };

function failure(id: RpcId, code: number, message: string): ParsedLine {
  return { ok: false, response: { jsonrpc: '2.0', id, error: { code, message } } };
}

/**
 * Parses one request line. Not JSON: -32700. JSON but not a request object (an array,
 * a batch, a wrong `jsonrpc`, a method that is not a string, an id that is not a string,
 * number or null, params that are not an object): -32600. Batches are not supported.
 */
export function parseRequestLine(line: string): ParsedLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return failure(null, RpcCode.parseError, 'parse error: the line is not JSON');
  }
  if (Array.isArray(v)) return failure(null, RpcCode.invalidRequest, 'invalid request: batches are not supported; send one request per line');
  if (typeof v !== 'object' || v === null) return failure(null, RpcCode.invalidRequest, 'invalid request: not a JSON object');
  const o = v as Record<string, unknown>;
  const idOk = !('id' in o) || o.id === null || typeof o.id === 'string' || (typeof o.id === 'number' && Number.isFinite(o.id));
  const id: RpcId = idOk && 'id' in o ? (o.id as RpcId) : null;
  if (!idOk) return failure(null, RpcCode.invalidRequest, 'invalid request: id must be a string, a number or null');
  if (o.jsonrpc !== '2.0') return failure(id, RpcCode.invalidRequest, 'invalid request: "jsonrpc" must be "2.0"');
  if (typeof o.method !== 'string' || o.method === '') return failure(id, RpcCode.invalidRequest, 'invalid request: "method" must be a non-empty string');
  if ('params' in o && (typeof o.params !== 'object' || o.params === null || Array.isArray(o.params))) {
    return failure(id, RpcCode.invalidRequest, 'invalid request: "params" must be an object (named parameters)');
  }
  const request: RpcRequest = { jsonrpc: '2.0', method: o.method, params: (o.params as Record<string, unknown> | undefined) ?? {} };
  if ('id' in o) request.id = id;
  return { ok: true, request };
}

/** The error object for anything a method threw. */
export function errorObject(e: unknown): RpcErrorObject {
  if (e instanceof RpcError) return { code: e.code, message: e.message, ...(e.data ? { data: e.data } : {}) };
  if (isHushError(e)) {
    return { code: appCode(e.exitCode), message: e.message, data: { code: e.code, exitCode: e.exitCode, ...(e.hint ? { hint: e.hint } : {}) } };
  }
  return { code: RpcCode.internalError, message: `internal error: ${e instanceof Error ? e.message : String(e)}` };
}

export function encode(msg: RpcResponse | RpcNotification | RpcRequest): string {
  return JSON.stringify(msg) + '\n';
}

// --- params ------------------------------------------------------------------------------------

function bad(message: string): RpcError {
  return new RpcError(RpcCode.invalidParams, `invalid params: ${message}`);
}

/** Params may only hold these keys (a typo is an error, not ignored). */
export function onlyKeys(p: Record<string, unknown>, keys: readonly string[]): void {
  for (const k of Object.keys(p)) if (!keys.includes(k)) throw bad(`unknown parameter "${k}" (expected ${keys.length ? keys.join(', ') : 'none'})`);
}

export function str(p: Record<string, unknown>, key: string, required: true): string;
export function str(p: Record<string, unknown>, key: string, required?: false): string | undefined;
export function str(p: Record<string, unknown>, key: string, required = false): string | undefined {
  const v = p[key];
  if (v === undefined || v === null) {
    if (required) throw bad(`"${key}" is required`);
    return undefined;
  }
  if (typeof v !== 'string') throw bad(`"${key}" must be a string`);
  return v;
}

export function bool(p: Record<string, unknown>, key: string): boolean | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(`"${key}" must be true or false`);
  return v;
}

export function int(p: Record<string, unknown>, key: string, min: number, max: number): number | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw bad(`"${key}" must be an integer from ${min} to ${max}`);
  return v;
}

export function strList(p: Record<string, unknown>, key: string): string[] | undefined {
  const v = p[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) throw bad(`"${key}" must be an array of strings`);
  return v as string[];
}
