import type { Verdict } from "@portcullis/policy";
import type { CheckedExecution, GateRefusal } from "../../execution/execute-checked.js";
import type { CallAudit, CallOutcome } from "../../calls/call-outcome.js";
import { linkAllowance } from "../../calls/link-allowance.js";
import { insufficientScope } from "../../calls/step-up.js";
import type { CallContext } from "../../context.js";

type AuditBase = Pick<CallAudit, "sql" | "fingerprint" | "tables" | "classes" | "rewrittenSql" | "attributeNames">;

export function auditBase(sql: string, verdict: Verdict): AuditBase {
  const rewrite = verdict.rewrite;
  return {
    sql,
    fingerprint: verdict.fingerprint || undefined,
    tables: verdict.tables,
    classes: verdict.classes,
    ...(rewrite ? { rewrittenSql: rewrite.sql, ...(rewrite.attributes.length ? { attributeNames: rewrite.attributes } : {}) } : {}),
  };
}

/**
 * The pre-run gate of execute_sql and explain_query: a statement the link allows but the OAuth token's
 * scopes do not is refused before it runs (API keys and internal callers have no scopes: no gate).
 */
export function stepUpGate(ctx: CallContext): ((verdict: Verdict) => GateRefusal | null) | undefined {
  if (ctx.principal.grantedScopes === null) return undefined;
  return (verdict) => insufficientScope(ctx, verdict.classes);
}

/** The refused or failed outcome of a checked execution, or null when it ran and has rows to give. */
export function refusedOrFailed(execution: CheckedExecution, sql: string, ctx: CallContext): CallOutcome | null {
  const { verdict } = execution;
  const base = auditBase(sql, verdict);
  if (!verdict.allowed || execution.refusal) {
    const ruleId = execution.refusal?.ruleId ?? verdict.ruleId ?? "refused";
    const reason = execution.refusal?.reason ?? verdict.reason ?? "refused";
    // The protocol layer answers a step-up refusal with HTTP 403 insufficient_scope (outside batches).
    if (execution.refusal?.stepUpScopes) ctx.insufficientScope = execution.refusal.stepUpScopes;
    return {
      kind: "refused",
      refusal: {
        ruleId,
        reason,
        ...(verdict.statementIndex !== undefined && !execution.refusal ? { statementIndex: verdict.statementIndex } : {}),
        ...(verdict.object !== undefined && !execution.refusal ? { object: verdict.object } : {}),
        ...(verdict.needs !== undefined && !execution.refusal ? { needs: verdict.needs } : {}),
        ...(execution.refusal?.needs ? { needs: execution.refusal.needs } : {}),
        ...(execution.refusal?.stepUpScopes ? { stepUpScopes: execution.refusal.stepUpScopes } : {}),
        allows: linkAllowance(ctx.link),
      },
      audit: { ...base, verdict: "blocked", ruleId, reason },
    };
  }
  if (execution.error) {
    const ran = execution.outcome !== undefined;
    const connection = !ran || execution.outcome!.error?.fatal === true;
    // The parameters are encoded before anything is sent: the only pre-run failure that is the caller's.
    const badParams = !ran && execution.error.startsWith("params must be JSON values");
    const code = badParams ? "invalid_arguments" : connection ? "target_unavailable" : "statement_error";
    return {
      kind: "failed",
      // A connection lost while a write was under way may have committed it: only reads are safe to retry.
      failure: { code, message: execution.error, retryable: code === "target_unavailable" && verdict.readOnly },
      audit: { ...base, verdict: "error", error: execution.error },
    };
  }
  return null;
}
