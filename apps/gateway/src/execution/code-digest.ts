import type { Verdict } from "@portcullis/policy";

/**
 * The code an approved write reaches, by name: the user functions its verdict says it runs
 * (`writes[].code`) and the tables it writes (their triggers and rules run with it).
 */
export interface CodeReach {
  functions: string[];
  tables: string[];
}

export function codeReach(verdict: Verdict): CodeReach {
  const functions = new Set<string>();
  const tables = new Set<string>();
  for (const w of verdict.writes ?? []) {
    for (const f of w.code ?? []) functions.add(f);
    if (w.table) tables.add(w.table);
    for (const t of w.through ?? []) tables.add(t);
  }
  return { functions: [...functions].sort(), tables: [...tables].sort() };
}

/**
 * One md5 over what that code is now, row versions (xmin) included: a replacement and its undoing (A,
 * B, A again) between two readings still changes it, so a check before and one after the statement
 * together see any version the statement could have run.
 * The pg_proc rows of the named functions (every overload), the
 * triggers of the written tables with their functions' rows, and the tables' rewrite rules. A body
 * replaced straight in the database (no DDL through a gateway) changes it; the catalog version only
 * says what the code was when the catalog was loaded, not when the statement runs.
 * $1: "schema.name" of functions, $2: "schema.table" of tables.
 */
export const CODE_DIGEST_SQL = `SELECT md5(concat_ws('#',
  (SELECT string_agg(md5(row(p.oid, p.xmin, p.prosrc, p.probin, p.proconfig, p.provolatile, p.prosecdef, p.prolang, p.prosqlbody::text)::text), ',' ORDER BY p.oid)
     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE (n.nspname || '.' || p.proname) = ANY($1::text[])),
  (SELECT string_agg(md5(row(t.oid, t.xmin, p.xmin, t.tgname, t.tgenabled, t.tgtype, pg_catalog.pg_get_triggerdef(t.oid),
                             p.prosrc, p.probin, p.proconfig, p.provolatile, p.prosecdef, p.prolang, p.prosqlbody::text)::text), ',' ORDER BY t.oid)
     FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
     WHERE (n.nspname || '.' || c.relname) = ANY($2::text[])),
  (SELECT string_agg(md5(row(r.oid, r.xmin, r.rulename, r.ev_type, r.ev_enabled, r.is_instead, r.ev_qual::text, r.ev_action::text)::text), ',' ORDER BY r.oid)
     FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE (n.nspname || '.' || c.relname) = ANY($2::text[]))
)) AS digest`;

/** Text-format values for CODE_DIGEST_SQL (array literals with every element quoted). */
export function codeDigestValues(reach: CodeReach): string[] {
  const array = (items: string[]) => `{${items.map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(",")}}`;
  return [array(reach.functions), array(reach.tables)];
}

/** Whether a write reaches any code a digest can cover (none: no digest, nothing to compare). */
export function reachesCode(reach: CodeReach): boolean {
  return reach.functions.length > 0 || reach.tables.length > 0;
}

/** In the error a guard raises when the code changed: how the caller tells it from a statement's own error. */
export const CODE_CHANGED_MARKER = "portcullis_code_changed";

// Names go in as hex so no spelling of a name (quotes, backslashes, any standard_conforming_strings) can
// end the literal: the guard is sent as text, without parameters (a pipelined preamble statement).
const textArray = (items: string[]) =>
  items.length ? `ARRAY[${items.map((s) => `convert_from(decode('${Buffer.from(s, "utf8").toString("hex")}', 'hex'), 'UTF8')`).join(", ")}]::text[]` : "ARRAY[]::text[]";

/**
 * A statement that returns nothing when the digest of the reached code is `expect`, and otherwise fails
 * (a cast of the marker and the new digest to integer), which aborts the transaction so the statement
 * pipelined after it never runs.
 */
export function codeGuardSql(reach: CodeReach, expect: string): string {
  if (!/^[0-9a-f]{32}$/.test(expect)) throw new Error("a code digest is 32 hex digits");
  const digest = CODE_DIGEST_SQL.replaceAll("$1::text[]", textArray(reach.functions)).replaceAll("$2::text[]", textArray(reach.tables));
  // No row either way (a pipelined preamble statement must not return any).
  return `SELECT 1 FROM (${digest}) d WHERE (CASE WHEN d.digest = '${expect}' THEN 0 ELSE ('${CODE_CHANGED_MARKER} ' || d.digest)::int END) = 1`;
}
