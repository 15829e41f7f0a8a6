/**
 * How a file message looks wherever messages are shown (pull, listen, chat, history, files): its
 * sanitised name and size, never its key. `bob sent report.pdf (2.1 MiB)`; JSON carries
 * {"file":{"name","size","sha256","text"?}} and a body that is that line.
 */
import { isHushError } from '../errors.js';
import { toHex } from '../protocol/encoding.js';
import { type FileDescriptor, isStructuredBody, parseFileBody } from '../protocol/file-descriptor.js';
import { formatBytes } from './transfer-progress.js';

export type FileView = { ok: true; d: FileDescriptor } | { ok: false; why: string };

/** The file in a message body; undefined for text. */
export function fileOf(body: string): FileView | undefined {
  if (!isStructuredBody(body)) return undefined;
  try {
    const d = parseFileBody(body);
    return d ? { ok: true, d } : undefined;
  } catch (e) {
    return { ok: false, why: isHushError(e) ? e.message : 'unreadable' };
  }
}

/** `report.pdf (2.1 MiB)` */
export function fileSummary(d: FileDescriptor): string {
  return `${d.name} (${formatBytes(d.size)})`;
}

/** The line shown instead of a structured body: `sent report.pdf (2.1 MiB)` (+ its text on the next line). */
export function bodyForDisplay(body: string): string {
  const v = fileOf(body);
  if (!v) return body;
  if (!v.ok) return `[${v.why}]`;
  return `sent ${fileSummary(v.d)}${v.d.text !== undefined ? `\n${v.d.text}` : ''}`;
}

/** The JSON of a file (no key). */
export function fileJson(d: FileDescriptor): Record<string, unknown> {
  return { name: d.name, size: d.size, sha256: toHex(d.sha256), ...(d.text === undefined ? {} : { text: d.text }) };
}
