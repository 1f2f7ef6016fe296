import type { Verdict } from "@portcullis/policy";
import type { CheckedExecution } from "../../execution/execute-checked.js";
import type { CallAudit, CallOutcome } from "../../calls/call-outcome.js";
import { linkAllowance } from "../../calls/link-allowance.js";
import { insufficientScope } from "../../calls/step-up.js";
import type { CallContext } from "../../context.js";
import type { Services } from "../../services.js";

type AuditBase = Pick<CallAudit, "sql" | "fingerprint" | "tables" | "classes">;

export function auditBase(sql: string, verdict: Verdict): AuditBase {
  return { sql, fingerprint: verdict.fingerprint || undefined, tables: verdict.tables, classes: verdict.classes };
}

/**
 * Step-up before anything runs: a statement the link allows but the OAuth token's scopes do not is
 * refused, and the protocol layer turns `ctx.insufficientScope` into 403 insufficient_scope. Only
 * principals with scopes pay for the extra (cached) verdict lookup.
 */
export async function stepUpRefusal(services: Services, ctx: CallContext, sql: string): Promise<CallOutcome | null> {
  if (ctx.principal.grantedScopes === null) return null;
  const catalog = await services.catalogFor(ctx.link);
  const verdict = services.checker.check(sql, ctx.link.scope, catalog);
  if (!verdict.allowed) return null; // the link refuses it anyway: that refusal explains more
  const refusal = insufficientScope(ctx, verdict.classes);
  if (!refusal) return null;
  ctx.insufficientScope = refusal.stepUpScopes;
  const withAllowance = { ...refusal, allows: linkAllowance(ctx.link) };
  return { kind: "refused", refusal: withAllowance, audit: { ...auditBase(sql, verdict), verdict: "blocked", ruleId: refusal.ruleId, reason: refusal.reason } };
}

/** The refused or failed outcome of a checked execution, or null when it ran and has rows to give. */
export function refusedOrFailed(execution: CheckedExecution, sql: string, ctx: CallContext): CallOutcome | null {
  const { verdict } = execution;
  const base = auditBase(sql, verdict);
  if (!verdict.allowed || execution.refusal) {
    const ruleId = execution.refusal?.ruleId ?? verdict.ruleId ?? "refused";
    const reason = execution.refusal?.reason ?? verdict.reason ?? "refused";
    return {
      kind: "refused",
      refusal: {
        ruleId,
        reason,
        ...(verdict.statementIndex !== undefined && !execution.refusal ? { statementIndex: verdict.statementIndex } : {}),
        ...(verdict.object !== undefined && !execution.refusal ? { object: verdict.object } : {}),
        ...(verdict.needs !== undefined && !execution.refusal ? { needs: verdict.needs } : {}),
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
