/**
 * Two small pieces of promise plumbing the runtime and the workers share.
 */

/**
 * Runs tasks one after another in call order; a task that fails does not stop
 * the ones after it. (The worker's calls, the World's phases, a session's steps.)
 */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Queue `task`; resolves or rejects as it does. */
  run<T>(task: () => T | Promise<T>): Promise<T> {
    const p = this.tail.then(task);
    this.tail = p.catch(() => {});
    return p;
  }

  /** Resolves once every task queued so far has settled. */
  get idle(): Promise<void> {
    return this.tail.then(() => {});
  }
}

/** `p`, or a rejection with `error()` if it has not settled after `ms` (the timer is cleared either way). */
export function withTimeout<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}
