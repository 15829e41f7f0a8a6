/**
 * The history record of a received message (docs/PROTOCOL.md §8.2), made on the pull's thread
 * (src/client/outer-open-worker.ts) for a message it opened ahead, so that the main thread
 * does not seal it again (docs/PERFORMANCE.md "Store records on the thread").
 *
 * The thread makes one only for a text message (kind msg, a body that is strict UTF-8), from
 * the plaintext it answers, under the contact id of the session it stepped; the record is
 * sealMessage's with a fresh nonce from the thread's CSPRNG, the tag msgTag's. The main thread
 * stores it (`takeRecord`) only when its own judgement stores that message and the record is
 * exactly what it would seal itself: direction in, the verdict's contact id equal to the
 * thread's, the same message id and time, and a text body, all read from the very plaintext it
 * took from the answer (src/client/sessions.ts attaches a record only to the payload it parsed
 * from that answer). Anything else is sealed on the main thread as before.
 *
 * This module runs in the thread too: it loads only the payload parser and the store's codec.
 */
import { parsePayloadV2 } from '../protocol/session-wire.js';
import { msgTag, sealMessage } from '../store/db-codec.js';

const strict = new TextDecoder('utf-8', { fatal: true });

/** A received body as history keeps it: text when it is strict UTF-8, else the bytes (shown lossily). */
export function bodyOf(bytes: Uint8Array): string | Uint8Array {
  try {
    return strict.decode(bytes);
  } catch {
    return bytes;
  }
}

/** A record the thread made: the fields it sealed, the record and its tag. */
export interface ThreadRecord {
  contactId: number;
  msgId: Uint8Array;
  time: number;
  tag: Uint8Array;
  sealed: Uint8Array;
}

/**
 * The thread's side: the record of the message whose payload is `plaintext`, from contact
 * `contactId`; undefined when it is not a text message (the main thread seals those).
 */
export function makeRecord(plaintext: Uint8Array, contactId: number, historyKey: Uint8Array): ThreadRecord | undefined {
  let p: ReturnType<typeof parsePayloadV2>;
  try {
    p = parsePayloadV2(plaintext);
  } catch {
    return undefined; // not a payload: the main thread says so
  }
  if (p.kind !== 'msg') return undefined;
  const body = bodyOf(p.body);
  if (typeof body !== 'string') return undefined;
  const sealed = sealMessage({ msgId: p.id, direction: 'in', contactId, time: p.time, body }, historyKey);
  return { contactId, msgId: p.id, time: p.time, tag: msgTag(p.id, historyKey), sealed };
}

/**
 * The main thread's side: the stored form of the message it is about to store, when `r` is
 * exactly that record (see the module comment); undefined: seal it yourself.
 */
export function takeRecord(
  r: ThreadRecord | undefined,
  m: { msgId: Uint8Array; contactId: number; direction: 'in' | 'out'; time: number; body: string | Uint8Array },
): { tag: Uint8Array; record: Uint8Array } | undefined {
  if (!r || m.direction !== 'in' || typeof m.body !== 'string' || r.contactId !== m.contactId || r.time !== m.time) return undefined;
  if (r.msgId.length !== m.msgId.length) return undefined;
  for (let i = 0; i < r.msgId.length; i++) if (r.msgId[i] !== m.msgId[i]) return undefined;
  return { tag: r.tag, record: r.sealed };
}
