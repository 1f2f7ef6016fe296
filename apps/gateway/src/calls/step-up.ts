import { OPERATION_SCOPES, normalizeScopes, type OperationScope } from "@portcullis/oauth/scopes";
import type { StatementClass } from "@portcullis/policy";
import type { CallContext } from "../context.js";
import type { Refusal } from "./call-outcome.js";

/**
 * The OAuth scope each statement class needs. Classes the analyzer does not produce today (utility,
 * transaction) need the highest scope: an unknown kind of statement must not slip under a read token.
 */
function scopeFor(cls: StatementClass): OperationScope {
  if (cls === "read") return "mcp:read";
  if (cls === "write") return "mcp:write";
  return "mcp:admin";
}

const NEEDS = { "mcp:read": "read", "mcp:write": "write", "mcp:admin": "admin" } as const;

/**
 * For a statement the link allows: the refusal when the token's scopes do not cover it (null when they
 * do, or when the principal has no scopes — API keys and internal callers are bounded by the link alone).
 * Scopes are nested as packages/oauth defines them (admin ⊃ write ⊃ read; legacy `mcp` = all), so
 * `stepUpScopes` — everything the client should ask for in one challenge, what it holds plus what is
 * missing — is closed downwards too.
 */
export function insufficientScope(ctx: CallContext, classes: readonly StatementClass[]): Refusal | null {
  const granted = ctx.principal.grantedScopes;
  if (granted === null) return null;
  const have = new Set(normalizeScopes(granted));
  const top = classes.length ? classes.map(scopeFor).reduce((a, b) => (OPERATION_SCOPES.indexOf(b) > OPERATION_SCOPES.indexOf(a) ? b : a)) : "mcp:read";
  if (have.has(top)) return null;
  const stepUpScopes = [...new Set([...granted.filter((s) => s !== "mcp" && !(OPERATION_SCOPES as readonly string[]).includes(s)), ...normalizeScopes([...have, top])])];
  return {
    ruleId: "insufficient_scope",
    reason: `This link allows the statement, but the access token was granted ${granted.length ? granted.join(" ") : "no scopes"}; it needs ${top}. Authorize again with the scopes ${stepUpScopes.join(" ")}. Nothing was run. [rule insufficient_scope]`,
    needs: NEEDS[top],
    stepUpScopes,
  };
}
