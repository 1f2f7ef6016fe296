import { requestRefusedFields, type RequestRefusal } from "../calls/audit-event.js";
import type { AuditRecord } from "./producer.js";

export interface Refusal extends RequestRefusal {
  linkId: string;
}

interface Tally {
  window: number;
  first: Refusal;
  /** Refusals after the first, not yet written. */
  more: number;
}

/**
 * Refusals that anyone can cause (unknown keys, limits) are audited once per source IP, link, rule and
 * minute: the first at once, the rest as one event with their count when the minute ends. A flood of
 * random keys used to write one row per request into the team's chain. The tally is per instance and
 * bounded; beyond the bound refusals are counted in metrics only.
 */
export class RefusalCoalescer {
  private readonly tallies = new Map<string, Tally>();
  private readonly timer: NodeJS.Timeout;
  private readonly windowMs = 60_000;

  constructor(
    /** Files an audit event under the link's team (no-op for an unknown link). */
    private readonly write: (linkId: string, event: Omit<AuditRecord, "teamId" | "linkId">) => void,
    private readonly onDropped: () => void = () => {},
    private readonly maxTallies = 20_000,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.flush(false), 5_000);
    this.timer.unref();
  }

  refuse(refusal: Refusal): void {
    const window = Math.floor(this.now() / this.windowMs);
    const key = `${refusal.sourceIp ?? "-"}|${refusal.linkId}|${refusal.ruleId}`;
    const tally = this.tallies.get(key);
    if (tally && tally.window === window) {
      tally.more++;
      return;
    }
    if (tally) this.emitMore(tally);
    if (!tally && this.tallies.size >= this.maxTallies) {
      this.onDropped();
      return;
    }
    this.tallies.set(key, { window, first: refusal, more: 0 });
    this.emit(refusal, refusal.reason);
  }

  /** Writes the counts of finished minutes (all of them when closing). */
  flush(all: boolean): void {
    const current = Math.floor(this.now() / this.windowMs);
    for (const [key, tally] of this.tallies) {
      if (!all && tally.window >= current) continue;
      this.emitMore(tally);
      this.tallies.delete(key);
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.flush(true);
  }

  private emitMore(tally: Tally): void {
    if (tally.more === 0) return;
    const from = new Date(tally.window * this.windowMs).toISOString();
    this.emit(tally.first, `${tally.more} more request(s) refused like this from the same source in the minute from ${from}: ${tally.first.reason}`);
    tally.more = 0;
  }

  private emit(refusal: Refusal, reason: string): void {
    this.write(refusal.linkId, requestRefusedFields({ ...refusal, reason }));
  }
}
