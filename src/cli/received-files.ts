/**
 * The files received, read from the local history (the file messages, src/protocol/
 * file-descriptor.ts): the list `hush files` shows, and the lookup by id of `hush save`.
 */
import { UsageError } from '../errors.js';
import { toHex } from '../protocol/encoding.js';
import type { FileDescriptor } from '../protocol/file-descriptor.js';
import type { HushStore } from '../store/db.js';
import { fileOf } from './file-view.js';

export interface ReceivedFile {
  /** The message id (hex, 32 characters). */
  id: string;
  from: string;
  time: number;
  d: FileDescriptor;
}

const lossy = new TextDecoder('utf-8');

/** Every file received (oldest first), optionally only from `contactId`. */
export function receivedFiles(store: HushStore, contactId?: number): ReceivedFile[] {
  const contacts = new Map(store.listContacts().map((c) => [c.id, c.label]));
  const out: ReceivedFile[] = [];
  for (const m of store.history(contactId === undefined ? {} : { contactId })) {
    if (m.direction !== 'in') continue;
    const v = fileOf(typeof m.body === 'string' ? m.body : lossy.decode(m.body));
    if (v?.ok) out.push({ id: toHex(m.msgId), from: contacts.get(m.contactId) ?? `#${m.contactId}`, time: m.time, d: v.d });
  }
  return out;
}

/** The received file whose id starts with `prefix` (at least 4 hex characters); UsageError otherwise. */
export function findReceivedFile(store: HushStore, prefix: string): ReceivedFile {
  const p = prefix.toLowerCase();
  if (!/^[0-9a-f]{4,32}$/.test(p))
    throw new UsageError('BAD_FILE_ID', `"${prefix.slice(0, 40)}" is not a file id`, { hint: 'file ids are hex, as hush files shows them (4 characters at least)' });
  const hits = receivedFiles(store).filter((f) => f.id.startsWith(p));
  if (hits.length === 0) throw new UsageError('UNKNOWN_FILE', `no received file has the id ${p}`, { hint: 'hush files lists them (run hush pull first)' });
  if (hits.length > 1) throw new UsageError('AMBIGUOUS_FILE_ID', `${hits.length} received files have ids starting with ${p}`, { hint: 'give more characters of the id' });
  return hits[0]!;
}
