/**
 * A value now or a promise of it: what a store call answers when the store may answer in
 * process (SQLite, at once) or over the network (Redis, later). The relay's send path chains
 * its checks with `andThen`, so that with a synchronous store a frame is handled in its own
 * turn, with no microtask hop per check, and with an asynchronous one in the same order,
 * awaited. (Not named `then`: a module that exports `then` is a thenable to `import()`.)
 */
export type Maybe<T> = T | Promise<T>;

/** `fn(x)` at once when `x` is a value, once it resolves when it is a promise. A throw in `fn` is a throw now, or a rejection later. */
export function andThen<T, R>(x: Maybe<T>, fn: (v: T) => Maybe<R>): Maybe<R> {
  return x instanceof Promise ? x.then(fn) : fn(x);
}
