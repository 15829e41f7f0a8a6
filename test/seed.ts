/**
 * Replayable randomness for tests that inject faults at random points (kill -9 after a random
 * delay, after a random number of messages). The seed comes from HUSH_TEST_SEED (a decimal
 * integer) or is drawn fresh; it is printed on stderr as `HUSH_TEST_SEED=<n>` and belongs in
 * every assertion message, so a failing run can be replayed with the same kill points:
 *
 *   HUSH_TEST_SEED=123456789 npx vitest run test/hostile/crash.test.ts
 *
 * Each stream is derived from (seed, label), so one test draws the same numbers whether it
 * runs alone (`-t`) or with the rest of its file. Kill points that are delays are replayed as
 * the same delays; on a machine of another speed they land in a slightly different place.
 */
import { createHash, randomInt } from 'node:crypto';

export interface SeededRandom {
  /** The seed of this run (the same for every stream). */
  readonly seed: string;
  /** An integer in [0, n), n >= 1. */
  int(n: number): number;
}

let runSeed: string | undefined;

/** The run's seed: HUSH_TEST_SEED, else a fresh one; printed once. */
export function testSeed(): string {
  if (runSeed !== undefined) return runSeed;
  const given = process.env.HUSH_TEST_SEED;
  if (given !== undefined && !/^\d{1,15}$/.test(given)) throw new Error(`HUSH_TEST_SEED must be a decimal integer, got ${JSON.stringify(given)}`);
  runSeed = given ?? String(randomInt(0, 2 ** 48 - 1));
  process.stderr.write(`HUSH_TEST_SEED=${runSeed} (${given === undefined ? 'drawn for this run' : 'from the environment'}; set it to replay the random kill points)\n`);
  return runSeed;
}

/** A deterministic stream for `label`: SHA-256 in counter mode over (seed, label, counter). */
export function seededRandom(label: string): SeededRandom {
  const seed = testSeed();
  let counter = 0;
  return {
    seed,
    int(n: number): number {
      if (!Number.isSafeInteger(n) || n < 1) throw new Error(`seededRandom.int: bad bound ${n}`);
      const h = createHash('sha256').update(`${seed}\u0000${label}\u0000${counter++}`).digest();
      // 48 bits, reduced: the bias is below 2^-30 for the bounds tests use.
      return h.readUIntBE(0, 6) % n;
    },
  };
}
