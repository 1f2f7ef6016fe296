import type { Redis } from "ioredis";

/**
 * Per-subject fixed-window limits shared by every instance through Redis. To keep Redis off the
 * request's critical path, the decision uses the count Redis returned for the previous request of
 * that subject in this window; the INCR for the current request runs in the background. The cost is
 * an overshoot of at most the requests in flight at the moment the limit is crossed. If Redis is
 * unreachable the limiter fails open: availability over strictness for a per-key courtesy limit.
 */
export class RateLimiter {
  private readonly blockedUntil = new Map<string, number>();
  private readonly windowMs = 60_000;

  constructor(
    private readonly redis: Redis,
    private readonly limitPerMinute: number,
    private readonly keyPrefix = "portcullis:ratelimit:",
  ) {}

  /** Returns the milliseconds to wait when limited, else 0. */
  check(subject: string, now = Date.now()): number {
    const until = this.blockedUntil.get(subject);
    if (until !== undefined) {
      if (until > now) return until - now;
      this.blockedUntil.delete(subject);
    }
    const window = Math.floor(now / this.windowMs);
    const windowEnd = (window + 1) * this.windowMs;
    const key = `${this.keyPrefix}${subject}:${window}`;
    this.redis
      .multi()
      .incr(key)
      .pexpire(key, this.windowMs + 1000)
      .exec()
      .then((results) => {
        const count = Number(results?.[0]?.[1] ?? 0);
        if (count >= this.limitPerMinute) {
          this.blockedUntil.set(subject, windowEnd);
          if (this.blockedUntil.size > 100_000) this.blockedUntil.clear();
        }
      })
      .catch(() => {});
    return 0;
  }
}
