import type { Redis } from "ioredis";
import { RateLimiter } from "./rate-limit.js";

export interface PreAuthLimitsOptions {
  ipRequestsPerMinute: number;
  authFailuresPerIpPerMinute: number;
  authFailuresPerLinkPerMinute: number;
}

/**
 * Limits applied before any credential is looked up, so that requests with random keys cost neither
 * metadata queries nor audit rows without bound. Counters are shared by every instance through Redis
 * (RateLimiter's batched windows). IPv6 sources count per /64: one host usually holds the whole prefix.
 */
export class PreAuthLimits {
  private readonly ipRequests: RateLimiter;
  private readonly ipFailures: RateLimiter;
  private readonly linkFailures: RateLimiter;

  constructor(redis: Redis, options: PreAuthLimitsOptions) {
    this.ipRequests = new RateLimiter(redis, options.ipRequestsPerMinute, 100, "portcullis:preauth:ip:");
    this.ipFailures = new RateLimiter(redis, options.authFailuresPerIpPerMinute, 100, "portcullis:preauth:ipfail:");
    this.linkFailures = new RateLimiter(redis, options.authFailuresPerLinkPerMinute, 100, "portcullis:preauth:linkfail:");
  }

  /** Counts the request against its source; the refusal (rule, milliseconds to wait) if the source is over. */
  checkSource(sourceIp: string | null): { ruleId: string; reason: string; waitMs: number } | null {
    if (isLoopback(sourceIp)) return null;
    const ip = sourceKey(sourceIp);
    const failing = this.ipFailures.over(ip);
    if (failing > 0) return { ruleId: "auth_failures_ip", reason: "too many failed authentications from this address", waitMs: failing };
    const busy = this.ipRequests.check(ip);
    if (busy > 0) return { ruleId: "ip_rate_limited", reason: "too many requests from this address", waitMs: busy };
    return null;
  }

  /** Milliseconds until the link accepts unverified credentials again (0: it does now). */
  /** `linkId`: already parsed (a lower-case UUID) by the endpoint. */
  linkUnderAttack(linkId: string): number {
    return this.linkFailures.over(linkId);
  }

  /** `linkId` null: the path named no link at all (counted against the source only). */
  authenticationFailed(sourceIp: string | null, linkId: string | null): void {
    if (!isLoopback(sourceIp)) this.ipFailures.add(sourceKey(sourceIp));
    if (linkId) this.linkFailures.add(linkId);
  }

  close(): void {
    this.ipRequests.close();
    this.ipFailures.close();
    this.linkFailures.close();
  }
}

/**
 * Loopback sources are not limited per address: they are this machine (the dashboard, a local proxy
 * with TRUST_PROXY left at 0, benchmarks), where one address stands for everyone. The per-link limit
 * still applies to them.
 */
function isLoopback(ip: string | null): boolean {
  return ip !== null && (ip === "::1" || ip.startsWith("127."));
}

function sourceKey(ip: string | null): string {
  if (!ip) return "unknown";
  if (!ip.includes(":")) return ip;
  // Expand "::" enough to take the first four groups.
  const [head = "", tail = ""] = ip.split("::");
  const headGroups = head ? head.split(":") : [];
  const tailGroups = tail ? tail.split(":") : [];
  const groups = ip.includes("::") ? [...headGroups, ...Array<string>(8 - headGroups.length - tailGroups.length).fill("0"), ...tailGroups] : headGroups;
  return `${groups.slice(0, 4).join(":")}::/64`;
}
