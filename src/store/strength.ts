/**
 * A simple, documented estimate of a new passphrase's strength (README "Passphrase strength"),
 * used for passphrases typed at the prompt of `hush init` and `hush passwd`:
 *
 *   bits = log2(pool) x length', where
 *   pool    = the sum of the classes of characters present: lowercase a-z 26, uppercase A-Z 26,
 *             digits 10, space 1, other ASCII symbols 32, anything else (non-ASCII) 100;
 *   length' = the number of characters, a character already seen counting 1/4.
 *
 * It is a floor-keeper, not a judge: it sees characters, not words ("password" rates
 * 34 bits, "correct horse battery staple" 79), so it catches the short and the
 * repetitive. Below FLOOR_BITS a typed passphrase is refused unless --weak-passphrase; below
 * GOOD_BITS it is accepted with a warning.
 */
export const FLOOR_BITS = 40;
export const GOOD_BITS = 60;

export function estimateBits(passphrase: string): number {
  const chars = [...passphrase];
  let lower = false;
  let upper = false;
  let digit = false;
  let space = false;
  let symbol = false;
  let other = false;
  const seen = new Set<string>();
  let length = 0;
  for (const ch of chars) {
    if (/[a-z]/.test(ch)) lower = true;
    else if (/[A-Z]/.test(ch)) upper = true;
    else if (/[0-9]/.test(ch)) digit = true;
    else if (ch === ' ') space = true;
    else if (/[\x21-\x7e]/.test(ch)) symbol = true;
    else other = true;
    length += seen.has(ch) ? 0.25 : 1;
    seen.add(ch);
  }
  const pool = (lower ? 26 : 0) + (upper ? 26 : 0) + (digit ? 10 : 0) + (space ? 1 : 0) + (symbol ? 32 : 0) + (other ? 100 : 0);
  return pool <= 1 ? 0 : Math.floor(length * Math.log2(pool));
}
