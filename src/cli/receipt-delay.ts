/**
 * `--receipt-delay MIN-MAX` (pull, listen, chat) and config.json "receiptDelay": the bounds of
 * the random wait before a receipt we send may leave (docs/PROTOCOL.md §5.6). Each bound is a
 * whole number with an optional unit `ms`, `s` (the default) or `m`; a single value is a fixed
 * wait (`0` sends receipts as soon as they are queued). The default is `5-60` (5 s to 60 s),
 * the most is 1 h. The flag wins over the config. A malformed value is UsageError
 * BAD_RECEIPT_DELAY (exit 2).
 */
import { UsageError } from '../errors.js';
import { DEFAULT_RECEIPT_DELAY, type ReceiptDelay } from '../client/receipts.js';

/** The longest wait accepted (ms): 1 hour. */
export const MAX_RECEIPT_DELAY_MS = 3_600_000;
const UNIT: Record<string, number> = { ms: 1, s: 1000, '': 1000, m: 60_000 };

function bad(spec: string, why: string): UsageError {
  return new UsageError('BAD_RECEIPT_DELAY', `bad receipt delay '${spec.slice(0, 64)}': ${why}`, {
    hint: 'e.g. --receipt-delay 5-60 (seconds; units ms, s, m; at most 1h), or 0 to send receipts at once',
  });
}

function bound(spec: string, part: string): number {
  const m = /^(\d{1,10})(ms|s|m|)$/.exec(part.trim());
  if (!m) throw bad(spec, `'${part}' is not a number with an optional unit ms, s or m`);
  const v = Number(m[1]) * UNIT[m[2]!]!;
  if (v > MAX_RECEIPT_DELAY_MS) throw bad(spec, 'at most 1 hour');
  return v;
}

export function parseReceiptDelay(spec: string | undefined): ReceiptDelay {
  if (spec === undefined) return { ...DEFAULT_RECEIPT_DELAY };
  const parts = spec.split('-');
  if (parts.length > 2) throw bad(spec, 'give MIN-MAX or one value');
  const minMs = bound(spec, parts[0]!);
  const maxMs = parts.length === 2 ? bound(spec, parts[1]!) : minMs;
  if (maxMs < minMs) throw bad(spec, 'MIN is above MAX');
  return { minMs, maxMs };
}
