import type { LinkRecord, Principal } from "../context.js";
import { UUID, type LinkStore } from "../links/link-store.js";
import type { Authenticator } from "./authenticate.js";
import type { LastUsedRecorder } from "./last-used.js";
import type { PreAuthLimits } from "./pre-auth-limits.js";
import type { RateLimiter } from "./rate-limit.js";

export interface AuthDeps {
  authenticator: Authenticator;
  links: LinkStore;
  rateLimiter: RateLimiter;
  preAuth: PreAuthLimits;
  lastUsed: LastUsedRecorder;
}

/**
 * Why a request was not let in. `unauthenticated` is one answer for every credential failure (unknown
 * link, missing/malformed/unknown/revoked/expired key, key of another link, disabled link) so nothing
 * tells them apart; `too_many` carries how long to wait. `auditLinkId`: the parsed link the refusal is
 * tallied under (null: the path named no link, counted against the source only).
 */
export type AuthFailure =
  | { kind: "unauthenticated"; ruleId: "unauthenticated"; reason: string; auditLinkId: string | null }
  | { kind: "too_many"; ruleId: string; reason: string; message: string; waitMs: number; auditLinkId: string | null; principal: Principal | null };

export type AuthResult = { ok: true; principal: Principal; link: LinkRecord } | { ok: false; failure: AuthFailure };

/**
 * Authentication as a value: pre-auth limits (per source, before any lookup), the attacked-link rule,
 * the credential, the link, the per-key rate limit, last-used. It never writes a response or an audit
 * event — the endpoint hands a failure to the one refusal mapper (http/mcp/refusal.ts).
 */
export async function authenticateRequest(deps: AuthDeps, input: { token: string | undefined; rawLinkId: string; sourceIp: string | null }): Promise<AuthResult> {
  const { token, rawLinkId, sourceIp } = input;
  // Before any lookup: the source's request rate and its failed authentications (all instances).
  const source = deps.preAuth.checkSource(sourceIp);
  if (source) {
    const auditLinkId = UUID.test(rawLinkId) ? rawLinkId.toLowerCase() : null;
    return fail({ kind: "too_many", ruleId: source.ruleId, reason: source.reason, message: "Too many requests from this address; slow down", waitMs: source.waitMs, auditLinkId, principal: null });
  }
  // The path's link id is parsed before it names a counter, a cache entry or an audit tally: anything
  // but a UUID is no link (answered as one, counted against the source only).
  if (!UUID.test(rawLinkId)) {
    deps.preAuth.authenticationFailed(sourceIp, null);
    return fail({ kind: "unauthenticated", ruleId: "unauthenticated", reason: "no such link", auditLinkId: null });
  }
  const linkId = rawLinkId.toLowerCase();
  // A link that many sources fail on accepts, until the minute ends, only credentials this instance has
  // already verified: its members keep working while random keys cost no lookup at all.
  const attacked = deps.preAuth.linkUnderAttack(linkId);
  const principal = attacked > 0 ? deps.authenticator.peek(token, linkId) : await deps.authenticator.authenticate(token, linkId);
  if (!principal && attacked > 0) {
    return fail({
      kind: "too_many",
      ruleId: "auth_failures_link",
      reason: "too many failed authentications on this link; only credentials already verified are accepted for now",
      message: "Too many failed authentications on this link; try again later",
      waitMs: attacked,
      auditLinkId: linkId,
      principal: null,
    });
  }
  const link = await deps.links.get(linkId);
  if (!principal || !link || link.status !== "active" || principal.linkId !== link.id || principal.teamId !== link.teamId) {
    deps.preAuth.authenticationFailed(sourceIp, linkId);
    const reason = !token ? "no bearer token" : "invalid, revoked or expired credentials, or a disabled link";
    return fail({ kind: "unauthenticated", ruleId: "unauthenticated", reason, auditLinkId: linkId });
  }
  const wait = deps.rateLimiter.check(principal.subject);
  if (wait > 0) {
    return fail({ kind: "too_many", ruleId: "rate_limited", reason: "per-key rate limit exceeded", message: "Too many requests for this key; slow down", waitMs: wait, auditLinkId: link.id, principal });
  }
  if (principal.apiKeyId) deps.lastUsed.touch(principal.apiKeyId);
  // A member's time-boxed access grants (issue 15) are part of the scope their call runs under.
  const effective = deps.links.forPrincipal(link, principal);
  return { ok: true, principal, link: effective instanceof Promise ? await effective : effective };
}

function fail(failure: AuthFailure): AuthResult {
  return { ok: false, failure };
}
