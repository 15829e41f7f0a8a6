/**
 * A tiny runtime validator for the JSON structures of hush. Every value that crosses a
 * process boundary (frames, files) goes through one of these before it is used.
 *
 * Checks are explicit and bounded: strings and arrays have maximum lengths, numbers are
 * safe integers in a range, objects are plain and unknown fields are ignored (the
 * "ignore what you don't recognise" rule of docs/PROTOCOL.md).
 */
import { DataError } from '../errors.js';
import { fromB64 } from './encoding.js';

export type Obj = Record<string, unknown>;

export function fail(path: string, why: string): never {
  throw new DataError('BAD_SHAPE', `${path} ${why}`);
}

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) fail(path, 'must be an object');
  return v;
}

export function str(o: Obj, key: string, path: string, opts: { max: number; min?: number; re?: RegExp }): string {
  const v = o[key];
  const p = `${path}.${key}`;
  if (typeof v !== 'string') fail(p, 'must be a string');
  if (v.length > opts.max) fail(p, `is longer than ${opts.max}`);
  if (v.length < (opts.min ?? 0)) fail(p, `is shorter than ${opts.min ?? 0}`);
  if (opts.re && !opts.re.test(v)) fail(p, 'has an invalid format');
  return v;
}

export function optStr(o: Obj, key: string, path: string, opts: { max: number; min?: number; re?: RegExp }): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, path, opts);
}

export function int(o: Obj, key: string, path: string, min: number, max: number): number {
  const v = o[key];
  const p = `${path}.${key}`;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(p, 'must be an integer');
  if (v < min || v > max) fail(p, `must be between ${min} and ${max}`);
  return v;
}

export function optInt(o: Obj, key: string, path: string, min: number, max: number): number | undefined {
  return o[key] === undefined ? undefined : int(o, key, path, min, max);
}

export function bool(o: Obj, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(`${path}.${key}`, 'must be a boolean');
  return v;
}

export function optBool(o: Obj, key: string, path: string): boolean | undefined {
  return o[key] === undefined ? undefined : bool(o, key, path);
}

export function literal<T extends string | number>(o: Obj, key: string, path: string, allowed: readonly T[]): T {
  const v = o[key];
  if (!allowed.includes(v as T)) fail(`${path}.${key}`, `must be one of ${allowed.join(', ')}`);
  return v as T;
}

/**
 * Base64 bytes with an exact length (`len`) or a maximum (`max`). The string length is
 * checked before decoding, so a giant string costs nothing.
 */
export function b64(o: Obj, key: string, path: string, opts: { len?: number; max?: number; min?: number }): Uint8Array {
  const v = o[key];
  const p = `${path}.${key}`;
  if (typeof v !== 'string') fail(p, 'must be a base64 string');
  const maxBytes = opts.len ?? opts.max ?? 0;
  if (v.length > Math.ceil(maxBytes / 3) * 4) fail(p, `is longer than ${maxBytes} bytes`);
  const bytes = fromB64(v, p);
  if (opts.len !== undefined && bytes.length !== opts.len) fail(p, `must be ${opts.len} bytes`);
  if (opts.max !== undefined && bytes.length > opts.max) fail(p, `is longer than ${opts.max} bytes`);
  if (opts.min !== undefined && bytes.length < opts.min) fail(p, `must be at least ${opts.min} bytes`);
  return bytes;
}

export function arr(o: Obj, key: string, path: string, max: number): unknown[] {
  const v = o[key];
  const p = `${path}.${key}`;
  if (!Array.isArray(v)) fail(p, 'must be an array');
  if (v.length > max) fail(p, `has more than ${max} items`);
  return v;
}

/**
 * JSON.parse with a size cap and a nesting-depth cap checked on the text before parsing,
 * so hostile input cannot make the parser recurse deeply or allocate without bound.
 */
export function parseJson(text: string, maxBytes: number, maxDepth = 8): unknown {
  if (text.length > maxBytes) throw new DataError('TOO_LARGE', `input is larger than ${maxBytes} bytes`);
  let depth = 0;
  let inStr = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inStr) {
      if (c === 92)
        i++; // backslash: skip the escaped char
      else if (c === 34) inStr = false;
    } else if (c === 34) inStr = true;
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth) throw new DataError('TOO_DEEP', `input is nested deeper than ${maxDepth}`);
    } else if (c === 125 || c === 93) depth--;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new DataError('BAD_JSON', 'input is not valid json');
  }
}
