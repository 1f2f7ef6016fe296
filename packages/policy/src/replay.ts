import { z } from "zod";
import type { Catalog } from "./catalog/types.js";
import type { PolicyChecker, Verdict } from "./decide/checker.js";
import { approvalFor, type ApprovalRequirement } from "./scope/approval.js";
import type { Scope } from "./scope/schema.js";

export interface ReplayStatement {
  sql: string;
  calls: number;
  /** ISO time of the last call with this text. */
  lastSeen: string;
}

export interface ReplayExample {
  sql: string;
  calls: number;
  /** Why it lands in its group: the refusal's words, or the approval rule's. */
  reason: string;
  lastSeen: string;
}

export interface ReplayGroup {
  /** The rule id (becameBlocked: the draft's; becameAllowed: the current one's), or "a → b". */
  ruleId: string;
  calls: number;
  statements: number;
  /** At most 5, most calls first. */
  examples: ReplayExample[];
}

export interface ReplayReport {
  /** Distinct texts checked. */
  statements: number;
  calls: number;
  durationMs: number;
  /** Allowed under the current scope, blocked under the draft. */
  becameBlocked: ReplayGroup[];
  /** Blocked under the current scope, allowed under the draft. */
  becameAllowed: ReplayGroup[];
  /** Blocked under both, by a different rule ("a → b"). */
  ruleChanged: ReplayGroup[];
  /** Allowed under both, with a different approvalFor ("none → writes", …). */
  approvalChanged: ReplayGroup[];
  /** Calls whose outcome is the same under both. */
  unchanged: number;
}

export interface ReplayInput {
  /**
   * A checker of the replay's own — `createPolicyChecker({ cacheSize: 0 })` or a small cache: a replay
   * checks every distinct text twice, and would evict the gateway's hot verdicts from a shared cache.
   */
  checker: PolicyChecker;
  catalog: Catalog;
  current: Scope;
  draft: Scope;
  statements: readonly ReplayStatement[];
}

const statementsSchema = z.array(
  z.object({
    sql: z.string(),
    calls: z.number().int().nonnegative(),
    lastSeen: z.string(),
  }),
);

const MAX_EXAMPLES = 5;

function approvalLabel(a: ApprovalRequirement | null): string {
  return a ? a.mode : "none";
}

class Groups {
  private readonly byRule = new Map<string, ReplayGroup>();

  add(ruleId: string, s: ReplayStatement, reason: string): void {
    let g = this.byRule.get(ruleId);
    if (!g) this.byRule.set(ruleId, (g = { ruleId, calls: 0, statements: 0, examples: [] }));
    g.calls += s.calls;
    g.statements += 1;
    // Keep the examples sorted and short as they come: no second pass over thousands of texts.
    const examples = g.examples;
    if (examples.length === MAX_EXAMPLES && examples[MAX_EXAMPLES - 1]!.calls >= s.calls) return;
    let at = examples.length;
    while (at > 0 && examples[at - 1]!.calls < s.calls) at--;
    examples.splice(at, 0, { sql: s.sql, calls: s.calls, reason, lastSeen: s.lastSeen });
    if (examples.length > MAX_EXAMPLES) examples.pop();
  }

  list(): ReplayGroup[] {
    return [...this.byRule.values()].sort((a, b) => b.calls - a.calls || a.ruleId.localeCompare(b.ruleId));
  }
}

/** Identical texts seen at different times are one statement: calls added, the latest lastSeen kept. */
function distinct(statements: readonly ReplayStatement[]): ReplayStatement[] {
  const bySql = new Map<string, ReplayStatement>();
  for (const s of statements) {
    const seen = bySql.get(s.sql);
    if (!seen) bySql.set(s.sql, { ...s });
    else {
      seen.calls += s.calls;
      if (s.lastSeen > seen.lastSeen) seen.lastSeen = s.lastSeen;
    }
  }
  return [...bySql.values()];
}

function ruleOf(v: Verdict): string {
  return v.ruleId ?? "unknown";
}

/**
 * What a draft scope would change for the statements a link has really run: each distinct text is
 * checked once under the current scope and once under the draft, both against the same catalog (so a
 * schema change since the calls never shows as a scope change), and the differences are grouped by
 * rule with the most frequent examples.
 */
export function replayScope(input: ReplayInput): ReplayReport {
  const started = performance.now();
  const statements = distinct(statementsSchema.parse(input.statements));
  const { checker, catalog, current, draft } = input;
  const becameBlocked = new Groups();
  const becameAllowed = new Groups();
  const ruleChanged = new Groups();
  const approvalChanged = new Groups();
  let calls = 0;
  let unchanged = 0;
  for (const s of statements) {
    calls += s.calls;
    const before = checker.check(s.sql, current, catalog);
    const after = checker.check(s.sql, draft, catalog);
    if (before.allowed && after.allowed) {
      const was = approvalFor(before, current);
      const will = approvalFor(after, draft);
      const from = approvalLabel(was);
      const to = approvalLabel(will);
      if (from === to && was?.kind === will?.kind) unchanged += s.calls;
      else approvalChanged.add(`${from} → ${to}`, s, will?.reason ?? `runs without a decision under the draft (was: ${was!.reason})`);
    } else if (before.allowed) becameBlocked.add(ruleOf(after), s, after.reason ?? "");
    else if (after.allowed) becameAllowed.add(ruleOf(before), s, `allowed under the draft; now refused: ${before.reason ?? ""}`);
    else if (before.ruleId !== after.ruleId) ruleChanged.add(`${ruleOf(before)} → ${ruleOf(after)}`, s, after.reason ?? "");
    else unchanged += s.calls;
  }
  return {
    statements: statements.length,
    calls,
    durationMs: Math.round((performance.now() - started) * 10) / 10,
    becameBlocked: becameBlocked.list(),
    becameAllowed: becameAllowed.list(),
    ruleChanged: ruleChanged.list(),
    approvalChanged: approvalChanged.list(),
    unchanged,
  };
}
