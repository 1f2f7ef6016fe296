import type { StatementClass } from "@portcullis/policy";
import type { CallContext } from "../context.js";
import type { Refusal } from "./call-outcome.js";

const ORDER = ["mcp:read", "mcp:write", "mcp:admin"] as const;
type OperationScope = (typeof ORDER)[number];

/** Legacy grants carry `mcp`: everything the link allows, as before operation scopes existed. */
function expand(granted: readonly string[]): Set<string> {
  const set = new Set(granted);
  if (set.has("mcp")) for (const s of ORDER) set.add(s);
  return set;
}

/**
 * The OAuth scope each statement class needs. Classes the analyzer does not produce today (utility,
 * transaction) need the highest scope: an unknown kind of statement must not slip under a read token.
 */
function scopeFor(cls: StatementClass): OperationScope {
  if (cls === "read") return "mcp:read";
  if (cls === "write") return "mcp:write";
  return "mcp:admin";
}

/**
 * For a statement the link allows: the refusal when the token's scopes do not cover it (null when they
 * do, or when the principal has no scopes — API keys and internal callers are bounded by the link alone).
 * `stepUpScopes` is everything the client should ask for in one challenge: what it holds plus what is missing.
 */
export function insufficientScope(ctx: CallContext, classes: readonly StatementClass[]): Refusal | null {
  const granted = ctx.principal.grantedScopes;
  if (granted === null) return null;
  const have = expand(granted);
  const needed = [...new Set(classes.length ? classes.map(scopeFor) : (["mcp:read"] as OperationScope[]))];
  const missing = needed.filter((s) => !have.has(s));
  if (missing.length === 0) return null;
  const stepUpScopes = [...new Set([...granted.filter((s) => s !== "mcp"), ...ORDER.filter((s) => have.has(s) || needed.includes(s))])];
  return {
    ruleId: "insufficient_scope",
    reason: `This link allows the statement, but the access token was granted ${granted.length ? granted.join(" ") : "no scopes"}; it needs ${missing.join(" ")}. Authorize again with the scopes ${stepUpScopes.join(" ")}. Nothing was run. [rule insufficient_scope]`,
    needs: missing.includes("mcp:admin") ? "admin" : missing.includes("mcp:write") ? "write" : "read",
    stepUpScopes,
  };
}
