import type { Redis } from "ioredis";

const MAX_SUBJECTS = 100_000;

interface Bucket {
  window: number;
  /** Requests counted here and not yet added to Redis. */
  pending: number;
  /** The window's total across all instances as of the last flush. */
  global: number;
}

/**
 * Per-subject fixed one-minute windows shared by every instance through Redis, kept off the request
 * path: requests are counted in memory and added to Redis in one pipelined INCRBY per subject every
 * `flushMs`; the decision uses the last global total plus what this instance counted since. The cost
 * of not asking Redis per request (measured at ~7% of gateway CPU) is an overshoot bounded by what
 * the other instances served during one flush interval. If Redis is unreachable the limiter keeps
 * counting locally: availability over strictness for a per-key courtesy limit.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly windowMs = 60_000;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: Redis,
    private readonly limitPerMinute: number,
    private readonly flushMs = 100,
    private readonly keyPrefix = "portcullis:ratelimit:",
  ) {
    this.timer = setInterval(() => this.flush(), flushMs);
    this.timer.unref();
  }

  /** Counts one request; returns the milliseconds to wait when over the limit, else 0. */
  check(subject: string, now = Date.now()): number {
    const wait = this.over(subject, now);
    if (wait === 0) this.bucket(subject, now).pending++;
    return wait;
  }

  /** Whether the subject is over the limit in this window (milliseconds to wait, else 0), counting nothing. */
  over(subject: string, now = Date.now()): number {
    const bucket = this.buckets.get(subject);
    const window = Math.floor(now / this.windowMs);
    if (!bucket || bucket.window !== window) return 0;
    return bucket.global + bucket.pending >= this.limitPerMinute ? (window + 1) * this.windowMs - now : 0;
  }

  /** Counts one event (a failed authentication) without deciding anything. */
  add(subject: string, now = Date.now()): void {
    this.bucket(subject, now).pending++;
  }

  private bucket(subject: string, now: number): Bucket {
    const window = Math.floor(now / this.windowMs);
    let bucket = this.buckets.get(subject);
    if (!bucket && this.buckets.size >= MAX_SUBJECTS) {
      // Subjects include source addresses, which an attacker can vary: keep only buckets with counts
      // still to send (the totals of the others live in Redis and come back with their next flush).
      for (const [key, b] of this.buckets) if (b.pending === 0) this.buckets.delete(key);
    }
    if (!bucket || bucket.window !== window) {
      bucket = { window, pending: 0, global: 0 };
      this.buckets.set(subject, bucket);
    }
    return bucket;
  }

  private flush(): void {
    const current = Math.floor(Date.now() / this.windowMs);
    const batch: [string, Bucket, number][] = [];
    for (const [subject, bucket] of this.buckets) {
      if (bucket.window < current) {
        if (bucket.pending === 0) this.buckets.delete(subject);
      }
      if (bucket.pending > 0) {
        batch.push([subject, bucket, bucket.pending]);
        bucket.pending = 0;
      }
    }
    if (batch.length === 0 || this.redis.status !== "ready") {
      for (const [, bucket, n] of batch) bucket.global += n; // keep counting locally
      return;
    }
    const pipeline = this.redis.pipeline();
    for (const [subject, bucket, n] of batch) {
      const key = `${this.keyPrefix}${subject}:${bucket.window}`;
      pipeline.incrby(key, n).pexpire(key, this.windowMs + 5_000);
    }
    pipeline
      .exec()
      .then((results) => {
        batch.forEach(([, bucket, n], i) => {
          const total = Number(results?.[i * 2]?.[1]);
          bucket.global = Number.isFinite(total) ? Math.max(total, bucket.global + n) : bucket.global + n;
        });
      })
      .catch(() => {
        for (const [, bucket, n] of batch) bucket.global += n;
      });
  }

  close(): void {
    clearInterval(this.timer);
    this.flush();
  }
}
