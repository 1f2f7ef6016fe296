import type { Authenticator } from "../auth/authenticate.js";
import type { LastUsedRecorder } from "../auth/last-used.js";
import type { PreAuthLimits } from "../auth/pre-auth-limits.js";
import type { RateLimiter } from "../auth/rate-limit.js";
import type { RefusalCoalescer } from "../audit/refusal-coalescer.js";
import type { LinkStore, MetadataQueryable } from "../links/link-store.js";
import type { ConfirmationBroker } from "../mcp/confirmation-broker.js";
import type { McpServers } from "../mcp/servers.js";
import type { Services } from "../services.js";
import type { HostOriginPolicy } from "./host-origin.js";
import type { EndedSessions } from "./mcp/ended-sessions.js";

export interface HttpDeps {
  services: Services;
  /** 2025-era session ids their clients ended (DELETE): answered 404 from then on. */
  endedSessions: EndedSessions;
  authenticator: Authenticator;
  links: LinkStore;
  rateLimiter: RateLimiter;
  /** Limits per source IP and per link, applied before any credential is looked up. */
  preAuth: PreAuthLimits;
  /** Audit of refusals anyone can cause: one event per source, link, rule and minute, with a count. */
  refusals: RefusalCoalescer;
  lastUsed: LastUsedRecorder;
  /** The long-lived modern (2026-07-28) and legacy (2025) SDK instances. */
  mcp: McpServers;
  hostOrigin: HostOriginPolicy;
  /**
   * Confirmations in the caller's client (approval "confirm"): signed requestState and 2025 elicitation
   * routing. Absent: callers confirm in the dashboard, and a retry carrying a requestState is refused.
   */
  confirmations?: ConfirmationBroker;
  publicUrl: string;
  webUrl: string;
  maxBodyBytes: number;
  internalToken: string | undefined;
  /** Proxy hops whose X-Forwarded-For entries are believed (0 = none). */
  trustProxy: number;
  /** The metadata database, for checks that must not be cached (Playground access). */
  metadata: MetadataQueryable;
  /** Readiness: false while starting or draining. */
  isReady(): Promise<{ ready: boolean; checks: Record<string, string> }>;
}
