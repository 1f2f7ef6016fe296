import type { RuleId } from "../rules/rules.js";

/** Thrown on the first violation; carries what the explanation needs. */
export class Refusal {
  constructor(
    readonly ruleId: RuleId,
    readonly message: string,
    /** What the statement would need, in words ("write access on public.orders"). */
    readonly need?: string,
    /** The object the rule is about ("public.orders", a column name), as the statement named it. */
    readonly object?: string,
  ) {}
}
