import { deparseSync } from "pgsql-deparser";
import { Refusal } from "../analyze/refusal.js";
import { parseSql, type PgNode } from "../parse/parse.js";

export const MAX_REWRITTEN_CHARS = 256 * 1024;

// Fields that say where text was, not what it means.
const POSITION_KEY = /^(location|stmt_location|stmt_len)$|_(start|end)$/;

/** Protobuf's JSON omits default values: a missing field and false/0/""/[] mean the same. */
function isDefault(value: unknown): boolean {
  return value === undefined || value === null || value === false || value === 0 || value === "" || (Array.isArray(value) && value.length === 0);
}

/** Whether two parse trees mean the same statement (positions and omitted defaults ignored). */
export function sameTree(a: unknown, b: unknown, depth = 0): boolean {
  if (depth > 5000) return false;
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return isDefault(a) && isDefault(b);
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return (isDefault(a) && isDefault(b));
    for (let i = 0; i < a.length; i++) if (!sameTree(a[i], b[i], depth + 1)) return false;
    return true;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  for (const key in ao) {
    if (POSITION_KEY.test(key)) continue;
    if (!sameTree(ao[key], bo[key], depth + 1)) return false;
  }
  for (const key in bo) {
    if (POSITION_KEY.test(key) || key in ao) continue;
    if (!isDefault(bo[key])) return false;
  }
  return true;
}

/**
 * The text of a rewritten statement, proven to parse back to the very tree we built: a deparser that
 * drops or changes anything (the way `INTO TEMP` loses TEMP) refuses the statement instead of
 * running something else than what was checked.
 */
export function deparseVerified(stmt: PgNode): string {
  let text: string;
  try {
    text = deparseSync(stmt as never, { pretty: false });
  } catch (error) {
    throw new Refusal("rewrite_failed", `the rewritten statement could not be printed (${(error as Error)?.message ?? String(error)})`);
  }
  // A bound on what the gateway prints, parses back and sends (views are also bounded while they expand).
  if (text.length > MAX_REWRITTEN_CHARS)
    throw new Refusal("rewrite_failed", `the statement is too complex to rewrite: its rewritten text would exceed ${MAX_REWRITTEN_CHARS / 1024} KB`);
  const parsed = parseSql(text);
  if (!parsed.ok || parsed.statements.length !== 1 || !sameTree(parsed.statements[0]!.stmt, stmt))
    throw new Refusal("rewrite_failed", "the rewritten statement did not read back as the statement that was checked");
  return text;
}
