/** Small helpers shared by the local store's modules (src/store/db*.ts). */
import { InternalError } from '../errors.js';
import { MSG_ID_BYTES } from '../protocol/envelope.js';

/** A programming error: an argument a caller should never pass. */
export function badArg(what: string): InternalError {
  return new InternalError('BAD_ARGUMENT', what);
}

/** A Buffer from the driver as a plain Uint8Array view (no copy). */
export function u8(b: Buffer | Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

export function checkTime(t: number, what: string): void {
  if (!Number.isSafeInteger(t) || t < 0) throw badArg(`${what} must be a non-negative integer`);
}

/** A message id (the payload's random 16 bytes). */
export function checkMsgId(id: Uint8Array): void {
  if (!(id instanceof Uint8Array) || id.length !== MSG_ID_BYTES) throw badArg(`msgId must be ${MSG_ID_BYTES} bytes`);
}
