// Shared by the vector generators under scripts/vectors/.

/** Runs `fn` and names its outcome: 'OK', or the thrown error's code (else its text). */
export function codeOf(fn) {
  try {
    fn();
    return 'OK';
  } catch (e) {
    return e.code ?? String(e);
  }
}
