import { approvalFor, type ApprovalRequirement, type Verdict } from "@portcullis/policy";
import { ranOn, type CheckedExecution, type GateRefusal } from "../../execution/execute-checked.js";
import type { CallAudit, CallOutcome } from "../../calls/call-outcome.js";
import { linkAllowance } from "../../calls/link-allowance.js";
import { insufficientScope } from "../../calls/step-up.js";
import type { CallContext, LinkRecord } from "../../context.js";
import { grantUsed } from "../../access/effective-link.js";

type AuditBase = Pick<CallAudit, "sql" | "fingerprint" | "tables" | "classes" | "rewrittenSql" | "attributeNames" | "accessGrantId">;

export function auditBase(sql: string, verdict: Verdict, link?: LinkRecord): AuditBase {
  const rewrite = verdict.rewrite;
  // The caller's access grant (issue 15) when the verdict touched a table it raised.
  const accessGrantId = link ? grantUsed(link, verdict.tables) : undefined;
  return {
    ...(accessGrantId ? { accessGrantId } : {}),
    sql,
    fingerprint: verdict.fingerprint || undefined,
    tables: verdict.tables,
    classes: verdict.classes,
    ...(rewrite ? { rewrittenSql: rewrite.sql, ...(rewrite.attributes.length ? { attributeNames: rewrite.attributes } : {}) } : {}),
  };
}

/**
 * executeChecked's `ahead` for a call on `ctx` (nothing when the call path writes no intents): the
 * call's intent as far as it is known before the statement runs, on the database the tool runs on.
 */
export function aheadOf(ctx: CallContext, sql: string, extra: Partial<CallAudit> = {}): { ahead?: (verdict: Verdict) => Promise<void> } {
  const journal = ctx.auditAhead;
  if (!journal) return {};
  return { ahead: (verdict) => journal({ ...auditBase(sql, verdict, ctx.link), verdict: "allowed", wrote: !verdict.readOnly, databaseName: ctx.link.databaseName, ...extra }) };
}

/** The gate rule id of a statement that needs a decision, by who decides. */
export const approvalRuleId = (requirement: ApprovalRequirement): "approval_required" | "confirmation_required" =>
  requirement.kind === "approval" ? "approval_required" : "confirmation_required";

/**
 * Whether a statement the link allows needs a person's decision first (issue 15). Reads never do, and
 * pay one property read for it (the hot path).
 */
export function approvalNeeded(verdict: Verdict, ctx: CallContext): ApprovalRequirement | null {
  if (verdict.readOnly) return null;
  return approvalFor(verdict, ctx.link.scope);
}

/**
 * How a statement that needs a decision is met at the gate: `refuse` — refused outright (explain_query:
 * EXPLAIN ANALYZE executes the write, so it must not become a way around the approval, even rolled
 * back); `capture` — handed to `onApproval` and stopped before it runs (execute_sql dry-runs it and
 * stores a request); `approved` — already decided (an approved request's execution).
 */
export type ApprovalHandling = "refuse" | "approved" | { capture(requirement: ApprovalRequirement): void };

/**
 * The pre-run gate of execute_sql and explain_query: a statement the link allows but the OAuth token's
 * scopes do not is refused before it runs (API keys and internal callers have no scopes), and a write
 * that needs a person's decision does not run without one.
 */
export function stepUpGate(ctx: CallContext, approval: ApprovalHandling = "refuse"): (verdict: Verdict) => GateRefusal | null {
  return (verdict) => {
    const scopeRefusal = ctx.principal.grantedScopes === null ? null : insufficientScope(ctx, verdict.classes);
    if (scopeRefusal || approval === "approved") return scopeRefusal;
    const requirement = approvalNeeded(verdict, ctx);
    if (!requirement) return null;
    const ruleId = approvalRuleId(requirement);
    if (approval === "refuse") {
      return {
        ruleId,
        reason: `${requirement.reason}. explain_query with analyze would run it, so it is not explained that way; explain it without analyze, or run it with execute_sql, which previews it and asks for the decision. Nothing was run. [rule ${ruleId}]`,
      };
    }
    approval.capture(requirement);
    return { ruleId, reason: requirement.reason };
  };
}

/** The refused or failed outcome of a checked execution, or null when it ran and has rows to give. */
export function refusedOrFailed(execution: CheckedExecution, sql: string, ctx: CallContext): CallOutcome | null {
  const { verdict } = execution;
  const base = { ...auditBase(sql, verdict, ctx.link), ...ranOn(execution) };
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
