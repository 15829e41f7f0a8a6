/**
 * `--ratchet-limits SPEC` (pull, listen, chat) and config.json "ratchetLimits": the bounds of
 * the skipped message keys a v2 session keeps for messages that arrive late or out of order
 * (docs/PROTOCOL.md §9.8). SPEC is comma-separated `key=value` pairs, any subset of:
 *
 *   max-skip=N      most message keys one received header may make a chain skip   (default 1000)
 *   per-session=N   skipped keys kept per session, the oldest evicted first         (default 2000)
 *   total=N         skipped keys kept over all sessions of this home, oldest first  (default 20000)
 *   age=DURATION    skipped keys older than this are deleted                        (default 30d)
 *
 * DURATION takes s / m / h / d. The counts may be 0 (max-skip=0: no gap at all is accepted).
 * per-session is at most 65536 (what a stored state may hold) and at least max-skip, total at
 * least per-session. The flag wins over the config. A malformed SPEC is UsageError
 * BAD_RATCHET_LIMITS (exit 2).
 */
import { UsageError } from '../errors.js';
import { DEFAULT_RATCHET_LIMITS, type RatchetLimits } from '../crypto/ratchet.js';
import { STATE_MAX_SKIPPED } from '../protocol/session-state.js';

const KEYS: Record<string, { field: keyof RatchetLimits; ms: boolean }> = {
  'max-skip': { field: 'maxSkip', ms: false },
  'per-session': { field: 'maxStoredSkipped', ms: false },
  total: { field: 'maxSkippedTotal', ms: false },
  age: { field: 'skippedMaxAgeMs', ms: true },
};
const MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
/** The counters of a session are u32 (§9.7): no gap can be longer. */
const MAX_COUNT = 2 ** 32 - 1;

function bad(spec: string, why: string): UsageError {
  return new UsageError('BAD_RATCHET_LIMITS', `bad ratchet limits '${spec.slice(0, 200)}': ${why}`, {
    hint: 'e.g. --ratchet-limits max-skip=1000,per-session=2000,total=20000,age=30d (these are the defaults)',
  });
}

export function parseRatchetLimits(spec: string | undefined, base: RatchetLimits = DEFAULT_RATCHET_LIMITS): RatchetLimits {
  const out = { ...base };
  if (spec === undefined) return out;
  for (const part of spec.split(',')) {
    const m = /^([a-z-]+)=(\d{1,12})([a-z]?)$/.exec(part.trim());
    if (!m) throw bad(spec, `'${part.trim().slice(0, 40)}' is not key=value`);
    const k = KEYS[m[1]!];
    if (!k) throw bad(spec, `unknown key '${m[1]}' (max-skip, per-session, total, age)`);
    let v = Number(m[2]);
    if (k.ms) {
      const unit = MS[m[3]!];
      if (unit === undefined) throw bad(spec, `age needs a unit: s, m, h or d`);
      v *= unit;
      if (v < 1000) throw bad(spec, 'age must be at least 1s');
    } else {
      if (m[3] !== '') throw bad(spec, `${m[1]} is a count, without a unit`);
      if (v > MAX_COUNT) throw bad(spec, `${m[1]} must be at most ${MAX_COUNT}`);
    }
    out[k.field] = v;
  }
  if (out.maxStoredSkipped > STATE_MAX_SKIPPED) throw bad(spec, `per-session must be at most ${STATE_MAX_SKIPPED}`);
  if (out.maxSkip > out.maxStoredSkipped)
    throw bad(spec, `max-skip (${out.maxSkip}) must not exceed per-session (${out.maxStoredSkipped}): the keys of one gap would be evicted as they are stored`);
  if (out.maxStoredSkipped > out.maxSkippedTotal) throw bad(spec, `per-session (${out.maxStoredSkipped}) must not exceed total (${out.maxSkippedTotal})`);
  return out;
}
