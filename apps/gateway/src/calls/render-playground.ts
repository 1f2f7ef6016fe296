import type { CallOutcome, PendingWrite } from "./call-outcome.js";

/**
 * The dashboard's Playground answer (apps/web/src/features/playground parses it). Issue 14 adds
 * `verdict.rewrittenSql` (the statement that ran instead of the caller's) and `verdict.attributeNames`.
 */
export interface PlaygroundAnswer {
  verdict: { allowed: boolean; ruleId?: string; reason?: string; classes: string[]; tables: string[]; rewrittenSql?: string; attributeNames?: string[] };
  result?: { columns: string[]; rows: unknown[][]; rowCount: number; truncated: boolean };
  error?: string;
  /** Issue 15: the write was not run; it waits for a decision (verdict.allowed false, ruleId approval_required/confirmation_required). */
  pending?: PendingWrite;
}

export type PlaygroundRendering = { status: 200; body: PlaygroundAnswer } | { status: 500 | 503; body: { error: string } };

interface SqlData {
  columns: { name: string }[];
  rows: unknown[][];
  rowCount: number;
  affected?: number;
  truncated: { value: boolean };
}

/**
 * An execute_sql outcome as the Playground shows it. A failure before the policy saw the statement
 * (the target unreachable while its catalog loads, an internal error) is an HTTP error as before; a
 * statement that ran and failed is a verdict plus its error.
 */
export function renderPlayground(outcome: CallOutcome): PlaygroundRendering {
  const { audit } = outcome;
  const seen = {
    classes: audit.classes ?? [],
    tables: audit.tables ?? [],
    ...(audit.rewrittenSql ? { rewrittenSql: audit.rewrittenSql } : {}),
    ...(audit.attributeNames?.length ? { attributeNames: [...audit.attributeNames] } : {}),
  };
  if (outcome.kind === "refused") {
    const { ruleId, reason } = outcome.refusal;
    return { status: 200, body: { verdict: { allowed: false, ruleId, reason, ...seen } } };
  }
  if (outcome.kind === "pending") {
    const { ruleId, reason } = outcome.audit;
    return { status: 200, body: { verdict: { allowed: false, ruleId, reason: outcome.data.message ?? reason, ...seen }, pending: outcome.data } };
  }
  if (outcome.kind === "failed") {
    if (audit.classes === undefined) {
      if (outcome.failure.code === "target_unavailable") return { status: 503, body: { error: outcome.failure.message } };
      if (outcome.failure.code === "internal") return { status: 500, body: { error: "internal error" } };
    }
    return { status: 200, body: { verdict: { allowed: true, ...seen }, error: outcome.failure.message } };
  }
  const data = outcome.data as unknown as SqlData;
  return {
    status: 200,
    body: {
      verdict: { allowed: true, ...seen },
      result: {
        columns: data.columns.map((c) => c.name),
        rows: data.rows,
        rowCount: data.columns.length ? data.rowCount : (data.affected ?? 0),
        truncated: data.truncated.value,
      },
    },
  };
}
