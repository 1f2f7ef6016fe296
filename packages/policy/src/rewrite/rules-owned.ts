import type { RuleId } from "../rules/rules.js";

/**
 * Rule ids the rewrite stage raises (its parts throw them while substituting sources and verifying
 * the deparsed statement); listed here so every rule id has exactly one owner.
 */
export const RULES_OWNED = ["row_filter_view", "rewrite_failed", "explain_row_filter"] as const satisfies readonly RuleId[];
