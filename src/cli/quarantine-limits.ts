/**
 * `--quarantine-limits SPEC` (pull, listen, chat) and config.json "quarantineLimits": the bounds
 * of the local quarantine (docs/PROTOCOL.md §8.5). SPEC is comma-separated `key=value` pairs, any
 * subset of:
 *
 *   count=N               entries kept in total                       (default 2000)
 *   bytes=SIZE            envelope bytes kept in total                (default 32m)
 *   per-sender=N          entries per sender bucket                   (default 200)
 *   per-sender-bytes=SIZE bytes per sender bucket                     (default 4m)
 *   age=DURATION          entries older than this are purged          (default 30d)
 *
 * SIZE takes k / m / g (KiB, MiB, GiB); DURATION takes s / m / h / d. The flag wins over the
 * config. A malformed SPEC is UsageError BAD_QUARANTINE_LIMITS (exit 2).
 */
import { UsageError } from '../errors.js';
import { DEFAULT_QUARANTINE_LIMITS, type QuarantineLimits } from '../store/db.js';

const KEYS: Record<string, { field: keyof QuarantineLimits; kind: 'n' | 'size' | 'ms' }> = {
  count: { field: 'count', kind: 'n' },
  bytes: { field: 'bytes', kind: 'size' },
  'per-sender': { field: 'perSender', kind: 'n' },
  'per-sender-bytes': { field: 'perSenderBytes', kind: 'size' },
  age: { field: 'maxAgeMs', kind: 'ms' },
};
const UNITS = { size: { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }, ms: { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }, n: { '': 1 } } as const;

function bad(spec: string, why: string): UsageError {
  return new UsageError('BAD_QUARANTINE_LIMITS', `bad quarantine limits '${spec}': ${why}`, {
    hint: 'e.g. --quarantine-limits count=2000,bytes=32m,per-sender=200,per-sender-bytes=4m,age=30d',
  });
}

export function parseQuarantineLimits(spec: string | undefined, base: QuarantineLimits = DEFAULT_QUARANTINE_LIMITS): QuarantineLimits {
  const out = { ...base };
  if (spec === undefined) return out;
  for (const part of spec.split(',')) {
    const m = /^([a-z-]+)=(\d{1,12})([a-z]?)$/.exec(part.trim());
    if (!m) throw bad(spec, `'${part}' is not key=value`);
    const k = KEYS[m[1]!];
    if (!k) throw bad(spec, `unknown key '${m[1]}' (count, bytes, per-sender, per-sender-bytes, age)`);
    const units = UNITS[k.kind] as Record<string, number>;
    const unit = units[m[3]!];
    if (unit === undefined) throw bad(spec, `'${m[3]}' is not a unit for ${m[1]}`);
    const v = Number(m[2]) * unit;
    if (!Number.isSafeInteger(v) || v < 1) throw bad(spec, `${m[1]} must be at least 1`);
    out[k.field] = v;
  }
  return out;
}
