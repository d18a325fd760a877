/** Events per second over the last `windowMs` (the readout's frames shown and frames made). */
export class RateMeter {
  private readonly events: { at: number; n: number }[] = [];
  constructor(private readonly windowMs = 4000) {}

  add(at: number, n = 1): number {
    this.events.push({ at, n });
    while (this.events.length > 1 && at - this.events[0].at > this.windowMs) this.events.shift();
    return this.rate(at);
  }

  /** Per second, counting the events after the first in the window (the first opens it). */
  rate(now = performance.now()): number {
    const e = this.events.filter((x) => now - x.at <= this.windowMs);
    if (e.length < 2) return 0;
    const span = Math.max(now, e.at(-1)!.at) - e[0].at;
    return span > 0 ? (e.slice(1).reduce((a, x) => a + x.n, 0) * 1000) / span : 0;
  }
}
