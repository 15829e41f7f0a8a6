/**
 * User names: what `hush init --name` takes, what the relay directory is keyed by.
 * 1 to 32 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.
 * Lowercase only, so "Bob" and "bob" can never be two different people.
 */
export const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,31}$/;
export const NAME_MAX = 32;

export function isValidName(name: string): boolean {
  return NAME_RE.test(name);
}

/**
 * A contact label (what commands take to name a contact): a name, or `name@host[:port][/path]`
 * for a second contact of that name pinned from another relay (docs/PROTOCOL.md §8.2).
 */
export const LABEL_RE = /^[a-z0-9][a-z0-9._-]{0,31}(@[a-z0-9.:[\]_/-]{1,2048}(~\d{1,6})?)?$/;

export function isValidLabel(label: string): boolean {
  return LABEL_RE.test(label);
}
