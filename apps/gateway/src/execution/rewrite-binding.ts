import { bindRewriteParams, ROW_FILTER_VIOLATION_MARKER, type BoundValue, type StatementRewrite, type Verdict } from "@portcullis/policy";
import type { LinkRecord, Principal } from "../context.js";
import type { Services } from "../services.js";
import type { GateRefusal } from "./execute-checked.js";
import type { RunOutcome } from "./run-statement.js";
import { encodeParam } from "./values.js";

export type BoundRewrite = { ok: true; values: (string | Buffer | null)[] } | { ok: false; error: string };

/**
 * The values of a rewritten statement: the caller's (padded with NULL up to the rewrite's first
 * parameter) followed by ours (member id, email, attributes, link, team, mask key pads, catalog
 * constants). More caller values than the text uses would shift ours onto the caller's positions —
 * the filter would compare with a value the caller chose — so that is refused before anything runs.
 */
export async function bindRewrite(services: Services, link: LinkRecord, principal: Principal, rewrite: StatementRewrite, callerValues: (string | Buffer | null)[]): Promise<BoundRewrite> {
  const callerSlots = rewrite.firstParam - 1;
  if (callerValues.length > callerSlots) {
    const uses = callerSlots === 0 ? "uses no $n parameters" : `uses $1…$${callerSlots}`;
    return { ok: false, error: `params: the statement ${uses}, but ${callerValues.length} values were sent; send exactly the values its $n placeholders take` };
  }
  const needsKey = rewrite.params.some((p) => p.kind === "mask_key_inner" || p.kind === "mask_key_outer");
  let maskKey: Buffer | null = null;
  if (needsKey) {
    try {
      maskKey = await services.maskKeys.forLink(link.teamId, link.id);
    } catch (error) {
      services.logger.error({ err: (error as Error).message, linkId: link.id }, "hash mask key unavailable");
      return { ok: false, error: "The link's hash mask key could not be loaded right now; nothing was run. Try again shortly." };
    }
  }
  const ours = bindRewriteParams(rewrite.params, {
    memberId: principal.userId,
    memberEmail: principal.email,
    keyId: principal.apiKeyId,
    linkId: link.id,
    teamId: link.teamId,
    attributes: principal.attributes,
    maskKey,
  });
  const padding = new Array<null>(callerSlots - callerValues.length).fill(null);
  return { ok: true, values: [...callerValues, ...padding, ...ours.map(encodeBound)] };
}

/** Text for strings, PostgreSQL array literals for lists, binary (bytea) for buffers. */
function encodeBound(value: BoundValue): string | Buffer | null {
  if (value === null || typeof value === "string" || Buffer.isBuffer(value)) return value;
  return encodeParam([...value]);
}

/** Scope keys are `schema.table` or `table` for public; verdict tables are always `schema.table`. */
function filteredTables(link: LinkRecord, verdict: Verdict): string[] {
  const filtered = new Set(
    Object.entries(link.scope.tables)
      .filter(([, rule]) => typeof rule.rowFilter === "string")
      .map(([key]) => (key.includes(".") ? key : `public.${key}`)),
  );
  return verdict.tables.filter((t) => filtered.has(t));
}

/**
 * A write check that fired (the outer query cast our marker to integer: 22P02 naming the marker) is a
 * refusal, never the server's text: the transaction failed, so nothing was written.
 */
export function rowFilterViolation(outcome: RunOutcome, verdict: Verdict, link: LinkRecord): GateRefusal | null {
  const tables = filteredTables(link, verdict);
  const on = tables.length ? ` on ${tables.join(", ")}` : "";
  const error = outcome.error;
  if (error && error.code === "22P02" && error.message.includes(`"${ROW_FILTER_VIOLATION_MARKER}`)) {
    return {
      ruleId: "row_filter_violation",
      reason: `The write would produce a row outside the row filter${on}; nothing was written. Rows this link may write must stay inside the filter (get_permissions says which). [rule row_filter_violation]`,
    };
  }
  return null;
}

/**
 * A member attribute the row filter casts (`$n::integer`) that does not parse fails with PostgreSQL's
 * "invalid input syntax for type integer: "abc"": said as what it is — an attribute an admin set — so
 * the caller does not take it for a problem in their statement. Null when the error is anything else.
 */
export function describeAttributeError(error: NonNullable<RunOutcome["error"]>, rewrite: StatementRewrite, principal: Principal): string | null {
  if (error.code !== "22P02" && error.code !== "22003") return null;
  const m = /^(?:invalid input syntax for type ([\w ]+)|value "[^"]*" is out of range for type ([\w ]+))(?:: "(.*)")?$/s.exec(error.message);
  if (!m) return null;
  const type = m[1] ?? m[2];
  const value = m[3] ?? /^value "(.*)" is out of range/s.exec(error.message)?.[1];
  const name = rewrite.attributes.find((n) => Object.hasOwn(principal.attributes, n) && principal.attributes[n] === value);
  if (!name) return null;
  return `Your member attribute ${name} on this link is not a valid ${type}, so this link's row filter cannot use it; nothing was read or changed. A team admin must correct it (Members tab, or portcullis member attr set).`;
}
