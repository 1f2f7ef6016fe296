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
 * One md5 over what that code is now: the pg_proc rows of the named functions (every overload), the
 * triggers of the written tables with their functions' rows, and the tables' rewrite rules. A body
 * replaced straight in the database (no DDL through a gateway) changes it; the catalog version only
 * says what the code was when the catalog was loaded, not when the statement runs.
 * $1: "schema.name" of functions, $2: "schema.table" of tables.
 */
export const CODE_DIGEST_SQL = `SELECT md5(concat_ws('#',
  (SELECT string_agg(md5(row(p.oid, p.prosrc, p.probin, p.proconfig, p.provolatile, p.prosecdef, p.prolang, p.prosqlbody::text)::text), ',' ORDER BY p.oid)
     FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE (n.nspname || '.' || p.proname) = ANY($1::text[])),
  (SELECT string_agg(md5(row(t.oid, t.tgname, t.tgenabled, t.tgtype, pg_catalog.pg_get_triggerdef(t.oid),
                             p.prosrc, p.probin, p.proconfig, p.provolatile, p.prosecdef, p.prolang, p.prosqlbody::text)::text), ',' ORDER BY t.oid)
     FROM pg_catalog.pg_trigger t JOIN pg_catalog.pg_class c ON c.oid = t.tgrelid JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_proc p ON p.oid = t.tgfoid
     WHERE (n.nspname || '.' || c.relname) = ANY($2::text[])),
  (SELECT string_agg(md5(row(r.oid, r.rulename, r.ev_type, r.ev_enabled, r.is_instead, r.ev_qual::text, r.ev_action::text)::text), ',' ORDER BY r.oid)
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
