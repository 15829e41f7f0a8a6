/**
 * The file message (docs/PROTOCOL.md §11.2): an ordinary `msg` whose body is a file descriptor
 * instead of text. A text body never starts with 0x00 (hush send refuses NUL), so the first
 * byte tells them apart:
 *
 *   body = 0x00 || utf8(JSON descriptor)
 *   descriptor = {"file":1,"blob":HEX32,"key":B64(32),"size":N,"chunk":N,"sha256":HEX64,
 *                 "name":TEXT[,"text":TEXT]}
 *
 * `file` is the descriptor's version: 1 for chunks of up to 64 KiB, 2 for chunks of up to 1 MiB
 * (the same fields; an older reader refuses 2 as an unreadable file message, never opens it).
 * Unknown fields are ignored. The name is the sender's
 * suggestion only: receivers run it through sanitiseFileName and never use it as a path as is.
 */
import { DataError } from '../errors.js';
import { fromB64, fromHex, toB64, toHex } from './encoding.js';
import { BLOB_ID_BYTES, FILE_KEY_BYTES, MAX_CHUNK_SIZE, MAX_CHUNK_SIZE_V1, MAX_FILE_SIZE, MIN_CHUNK_SIZE } from './file-chunks.js';
import { int, isObj, type Obj, optStr, str } from './validate.js';

/** The descriptor version of chunks up to 64 KiB (what every hush reads). */
export const FILE_DESCRIPTOR_VERSION = 1;
/** The descriptor version of chunks over 64 KiB, up to 1 MiB (read since large chunks). */
export const FILE_DESCRIPTOR_VERSION_LARGE = 2;
/** Largest chunk each version declares. */
const MAX_CHUNK_OF: Readonly<Record<number, number>> = { [FILE_DESCRIPTOR_VERSION]: MAX_CHUNK_SIZE_V1, [FILE_DESCRIPTOR_VERSION_LARGE]: MAX_CHUNK_SIZE };
/** First character of a structured (non-text) message body. */
export const STRUCTURED_BODY_MARK = '\u0000';
/** Longest sanitised file name, in UTF-8 bytes (most file systems' limit). */
export const MAX_FILE_NAME_BYTES = 255;
/** Longest text sent with a file, in UTF-8 bytes. */
export const MAX_FILE_TEXT_BYTES = 16 * 1024;

export interface FileDescriptor {
  /** The relay's blob id (16 bytes). */
  blob: Uint8Array;
  /** The file key (32 bytes). Secret. */
  key: Uint8Array;
  /** Plaintext size in bytes. */
  size: number;
  /** Plaintext bytes per chunk. */
  chunk: number;
  /** SHA-256 of the whole plaintext. */
  sha256: Uint8Array;
  /** The sanitised name. */
  name: string;
  text?: string;
}

/** The message body (a string: the store keeps bodies as text) carrying `d`. */
export function encodeFileBody(d: FileDescriptor): string {
  const o: Obj = {
    // Version 1 whenever the chunks allow it: such a message stays readable by older hush.
    file: d.chunk > MAX_CHUNK_SIZE_V1 ? FILE_DESCRIPTOR_VERSION_LARGE : FILE_DESCRIPTOR_VERSION,
    blob: toHex(d.blob),
    key: toB64(d.key),
    size: d.size,
    chunk: d.chunk,
    sha256: toHex(d.sha256),
    name: sanitiseFileName(d.name),
  };
  if (d.text !== undefined && d.text !== '') o.text = d.text;
  return STRUCTURED_BODY_MARK + JSON.stringify(o);
}

/** True when a message body is structured (starts with 0x00), not text. */
export function isStructuredBody(body: string): boolean {
  return body.startsWith(STRUCTURED_BODY_MARK);
}

/**
 * The descriptor in a message body; undefined for a text body; DataError BAD_FILE_MESSAGE for a
 * structured body that is not a valid version-1 or version-2 descriptor (shown as such, never opened).
 */
export function parseFileBody(body: string): FileDescriptor | undefined {
  if (!isStructuredBody(body)) return undefined;
  let o: unknown;
  try {
    o = JSON.parse(body.slice(1)) as unknown;
  } catch {
    throw bad('its descriptor is not JSON');
  }
  if (!isObj(o)) throw bad('its descriptor is not an object');
  const maxChunk = typeof o.file === 'number' ? MAX_CHUNK_OF[o.file] : undefined;
  if (maxChunk === undefined) throw bad(`descriptor version ${JSON.stringify(o.file) ?? 'undefined'} is not supported (this hush reads versions 1 and 2)`);
  try {
    const p = 'file';
    const d: FileDescriptor = {
      blob: fromHex(str(o, 'blob', p, { max: BLOB_ID_BYTES * 2, min: BLOB_ID_BYTES * 2, re: /^[0-9a-f]+$/ }), 'file.blob'),
      key: fromB64(str(o, 'key', p, { max: 44, min: 44 }), 'file.key'),
      size: int(o, 'size', p, 0, MAX_FILE_SIZE),
      chunk: int(o, 'chunk', p, MIN_CHUNK_SIZE, maxChunk),
      sha256: fromHex(str(o, 'sha256', p, { max: 64, min: 64, re: /^[0-9a-f]+$/ }), 'file.sha256'),
      name: sanitiseFileName(str(o, 'name', p, { max: 4096 })),
    };
    if (d.key.length !== FILE_KEY_BYTES) throw bad(`its key is not ${FILE_KEY_BYTES} bytes`);
    const text = optStr(o, 'text', p, { max: MAX_FILE_TEXT_BYTES });
    if (text !== undefined && text !== '') d.text = text;
    return d;
  } catch (e) {
    if (e instanceof DataError && e.code === 'BAD_FILE_MESSAGE') throw e;
    throw bad((e as Error).message);
  }
}

function bad(why: string): DataError {
  return new DataError('BAD_FILE_MESSAGE', `a file message is malformed: ${why}`);
}

/** Windows device names: a file named so (with any extension) opens the device there. */
const DEVICE_RE = /^(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$|clock\$)(\..*)?$/i;
/** C0 and C1 controls, DEL, and the bidirectional and invisible formatting characters. */
// eslint-disable-next-line no-control-regex
const UNSAFE_RE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g;
/** Characters no common file system accepts in a name. */
const RESERVED_RE = /[<>:"|?*]/g;

/**
 * A file name safe to create in any directory, from a name chosen by someone else: only the
 * last path component (after any `/` or `\`), control, bidi and invisible characters and the
 * characters Windows reserves replaced by `_`, leading and trailing dots and spaces removed (so
 * never `.`, `..` or a hidden file), a device name prefixed with `_`, at most 255 UTF-8 bytes
 * (cut on a character boundary, the extension kept when short), and `file` when nothing is left.
 */
export function sanitiseFileName(name: string): string {
  let s = name.normalize('NFC');
  const cut = Math.max(s.lastIndexOf('/'), s.lastIndexOf('\\'));
  if (cut >= 0) s = s.slice(cut + 1);
  s = s.replace(UNSAFE_RE, '_').replace(RESERVED_RE, '_');
  s = s.replace(/^[.\s]+/, '').replace(/[.\s]+$/, '');
  if (DEVICE_RE.test(s)) s = `_${s}`;
  const enc = new TextEncoder();
  if (enc.encode(s).length > MAX_FILE_NAME_BYTES) {
    const dot = s.lastIndexOf('.');
    const ext = dot > 0 && s.length - dot <= 16 ? s.slice(dot) : '';
    let stem = [...s.slice(0, s.length - ext.length)];
    while (stem.length > 0 && enc.encode(stem.join('') + ext).length > MAX_FILE_NAME_BYTES) stem = stem.slice(0, -1);
    s = stem.join('') + ext;
  }
  return s === '' ? 'file' : s;
}
