/**
 * Look-alike contact names (issue #13; docs/SECURITY.md "Look-alike names"). Names are free to
 * claim on a relay, so `bob_`, `bob.`, `bob0` or `b0b` can be claimed by anyone to pass for a
 * contact `bob`. Such names stay allowed; the CLI warns when one is pinned and marks it in
 * `hush contacts`. Pure: no I/O.
 *
 * Two different names look alike when their skeletons are equal. skeleton(name):
 *   1. drop the punctuation `.`, `_`, `-`;
 *   2. drop trailing digits (unless nothing would be left);
 *   3. replace `rn` by `m` and `vv` by `w`, then map confusable characters:
 *      `0` -> `o`, `1` / `i` / `|` -> `l`, `5` -> `s`.
 * So bob, bob., bob_, bob-, bob0, bob42, b0b, b.o.b all share the skeleton `bob`; alice and
 * al1ce share `allce`; the same name is never its own look-alike.
 */

const CONFUSABLE: Record<string, string> = { '0': 'o', '1': 'l', i: 'l', '|': 'l', '5': 's' };

/** The form two names are compared in (see the module comment). */
export function skeleton(name: string): string {
  let s = name.toLowerCase().replace(/[._-]/g, '');
  const stripped = s.replace(/\d+$/, '');
  if (stripped !== '') s = stripped;
  s = s.replace(/rn/g, 'm').replace(/vv/g, 'w');
  return Array.from(s, (ch) => CONFUSABLE[ch] ?? ch).join('');
}

/** Do two DIFFERENT names look alike? */
export function looksAlike(a: string, b: string): boolean {
  return a !== b && skeleton(a) === skeleton(b);
}

/**
 * The first of `others` (in their order) that `name` looks like, or undefined. Give `others`
 * in pin order, the earlier contacts: the later pin is the suspect one.
 */
export function lookalikeOf(name: string, others: readonly string[]): string | undefined {
  const sk = skeleton(name);
  return others.find((o) => o !== name && skeleton(o) === sk);
}
