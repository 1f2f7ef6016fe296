import type { Redis } from "ioredis";
import { LAST_USED_HASH } from "@portcullis/jobs";

/**
 * Records "last used" without a database write per request: at most one HSET per key per interval
 * per instance, fire-and-forget; the worker flushes the hash into api_keys in batches.
 */
export class LastUsedRecorder {
  private readonly lastWritten = new Map<string, number>();

  constructor(
    private readonly redis: Redis,
    private readonly intervalMs = 30_000,
  ) {}

  touch(apiKeyId: string, now = Date.now()): void {
    const previous = this.lastWritten.get(apiKeyId);
    if (previous !== undefined && now - previous < this.intervalMs) return;
    this.lastWritten.set(apiKeyId, now);
    if (this.lastWritten.size > 100_000) this.lastWritten.clear();
    this.redis.hset(LAST_USED_HASH, apiKeyId, new Date(now).toISOString()).catch(() => {
      // Redis down: last-used is advisory; try again on the next request.
      this.lastWritten.delete(apiKeyId);
    });
  }
}
