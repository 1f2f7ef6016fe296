import { parseSql, type PgNode } from "../parse/parse.js";
import { list, nodeType, strNode, walk } from "./ast.js";
import { deparseVerified } from "./deparse.js";
import { returningItems } from "./dml-returning.js";
import { Refusal } from "../analyze/refusal.js";

/**
 * The dry run of a write that needs a decision (issue 15, gateway execution/dry-run.ts) shows the rows
 * it would write: the caller's own INSERT, UPDATE or DELETE with its RETURNING list replaced by the
 * target's columns the link may see. Built on the parse tree and printed by the verified deparser, never
 * by pasting text, so the preview statement is the caller's statement and nothing else; the gateway then
 * checks the printed text with the policy like any caller statement (masks, filters, hidden columns).
 */
export type PreviewReturning =
  | {
      ok: true;
      sql: string;
      command: "insert" | "update" | "delete";
      /** The target as the statement names it (schema null when unqualified). */
      target: { schema: string | null; name: string };
      /** UPDATE: the columns its SET assigns (lower-cased as parsed). */
      setColumns: string[];
    }
  | { ok: false; reason: string };

const COMMANDS: Record<string, "insert" | "update" | "delete"> = { InsertStmt: "insert", UpdateStmt: "update", DeleteStmt: "delete" };

/** The $n a tree refers to. */
function paramNumbers(node: unknown): Set<number> {
  const found = new Set<number>();
  walk(node, (n) => {
    const p = n.ParamRef as PgNode | undefined;
    if (p && typeof p.number === "number") found.add(p.number);
  });
  return found;
}

/**
 * PostgreSQL 18 names the rows before and after a write `old` and `new` inside RETURNING unless the
 * statement already uses those names; a target called (or aliased) old or new is the one case where a
 * qualified reference could mean the other row, so there the columns go unqualified — unambiguous only
 * without FROM/USING sources.
 */
const PSEUDO_ROWS = new Set(["old", "new"]);

/**
 * `columnsFor` names the RETURNING columns once the target is known (the link's visible columns of it),
 * or null when the preview should not show rows.
 */
export function previewReturning(
  sql: string,
  columnsFor: (target: { schema: string | null; name: string }) => readonly string[] | null,
): PreviewReturning {
  const parsed = parseSql(sql);
  if (!parsed.ok) return { ok: false, reason: "the statement does not parse" };
  if (parsed.statements.length !== 1) return { ok: false, reason: "the text is not exactly one statement" };
  const raw = parsed.statements[0]!;
  const typed = nodeType(raw.stmt);
  const command = typed && COMMANDS[typed[0]];
  if (!typed || !command) return { ok: false, reason: "only a single INSERT, UPDATE or DELETE has a row preview" };
  const stmt = typed[1];
  const relation = stmt.relation as PgNode | undefined;
  const name = relation?.relname as string | undefined;
  if (!name) return { ok: false, reason: "the statement's target could not be read" };
  const target = { schema: (relation!.schemaname as string | undefined) ?? null, name };
  const columns = columnsFor(target);
  if (!columns || columns.length === 0) return { ok: false, reason: "no column of the target is visible on this link" };
  const alias = (relation!.alias as PgNode | undefined)?.aliasname as string | undefined;
  // Qualified by the target's own name or alias: an UPDATE … FROM or DELETE … USING source with a
  // column of the same name must not make a RETURNING item ambiguous (or name the other table's).
  const qualifier = alias ?? name;
  const sources = list(stmt.fromClause).length + list(stmt.usingClause).length;
  if (PSEUDO_ROWS.has(qualifier) && sources > 0) return { ok: false, reason: `a target named ${qualifier} with FROM/USING sources has no unambiguous row preview` };
  // A parameter only the caller's RETURNING used would vanish with it, and the statement would no
  // longer take the parameters the call binds (PostgreSQL counts them from the text).
  const callerReturning = returningItems(stmt);
  if (callerReturning.length) {
    const inReturning = paramNumbers(callerReturning);
    if (inReturning.size) {
      const elsewhere = paramNumbers({ ...stmt, returningClause: undefined, returningList: undefined });
      if ([...inReturning].some((n) => !elsewhere.has(n))) return { ok: false, reason: "a parameter is used only in the statement's RETURNING list" };
    }
  }
  const items = columns.map((column) => ({
    ResTarget: { val: { ColumnRef: { fields: PSEUDO_ROWS.has(qualifier) ? [strNode(column)] : [strNode(qualifier), strNode(column)] } } },
  }));
  // The whole clause is replaced: the caller's `WITH (OLD AS x, NEW AS y)` could rename a row to the
  // target's name and make the preview show the other image.
  delete stmt.returningList;
  stmt.returningClause = { exprs: items };
  const setColumns = command === "update" ? list(stmt.targetList).map((t) => String((t.ResTarget as PgNode | undefined)?.name ?? "")) : [];
  try {
    return {
      ok: true,
      sql: deparseVerified(raw.stmt as PgNode),
      command,
      target,
      setColumns,
    };
  } catch (error) {
    if (error instanceof Refusal) return { ok: false, reason: error.message };
    throw error;
  }
}
