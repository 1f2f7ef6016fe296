import { sleep } from "../retry.js";

/**
 * Spaces model calls evenly (requests per minute, per worker process): cost and provider quotas are
 * the limits, and an even pace avoids the 429s a burst would earn.
 */
export class IntervalLimiter {
  private next = 0;
  constructor(private readonly perMinute: number) {}

  async take(signal?: AbortSignal): Promise<void> {
    const interval = 60_000 / this.perMinute;
    const now = Date.now();
    const at = Math.max(now, this.next);
    this.next = at + interval;
    if (at > now) await sleep(at - now, signal);
  }
}
