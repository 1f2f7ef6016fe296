import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { approvalFor, createPolicyChecker, parseScope, type Scope, type WriteEffect } from "../src/index.js";
import { parseSql } from "../src/parse/parse.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

/**
 * Attack finding 3: DDL whose reach cannot be computed exactly (it names no table, or reaches beyond
 * the one it names) must be `opaque`, so every approval rule of the link applies. Every DDL node kind
 * the analyzer routes to the DDL, code or extension families is listed here with what it changes:
 *  - "opaque": every rule applies;
 *  - "schema.table": an effect on that table (its rule, its ancestors' and the link's apply);
 *  - "none": an effect on no table (the link's rule applies): it creates something new and changes nothing that exists;
 *  - "refused": the analyzer refuses it on an admin link.
 */
const ADMIN = scope({ access: "admin", tables: { invoice: { approval: "destructive" } } });

const CASES: [kind: string, sql: string, expected: string][] = [
  ["CreateStmt", "CREATE TABLE scratch (id int)", "public.scratch"],
  ["CreateTableAsStmt", "CREATE TABLE scratch AS SELECT 1 AS x", "public.scratch"],
  ["ViewStmt", "CREATE VIEW v_scratch AS SELECT 1 AS x", "public.v_scratch"],
  ["CreateSeqStmt", "CREATE SEQUENCE s_scratch", "public.s_scratch"],
  ["AlterTableStmt", "ALTER TABLE invoice ADD COLUMN note text", "public.invoice"],
  ["AlterTableStmt", "ALTER TABLE invoice DROP COLUMN billing_city CASCADE", "opaque"],
  // Indexes and composite types are not relations of the catalog: their names do not resolve.
  ["AlterTableStmt", "ALTER INDEX invoice_pkey SET (fillfactor = 80)", "refused"],
  ["AlterTableStmt", "ALTER TYPE mood_composite ADD ATTRIBUTE x int", "refused"],
  ["DropStmt", "DROP TABLE genre", "public.genre"],
  ["DropStmt", "DROP TABLE genre CASCADE", "opaque"],
  ["DropStmt", "DROP VIEW IF EXISTS no_such_view CASCADE", "opaque"],
  ["DropStmt", "DROP SCHEMA sales CASCADE", "opaque"],
  ["DropStmt", "DROP SCHEMA sales", "opaque"],
  ["DropStmt", "DROP TYPE mood CASCADE", "opaque"],
  ["DropStmt", "DROP DOMAIN positive_int", "opaque"],
  ["DropStmt", "DROP FUNCTION add_one(int) CASCADE", "opaque"],
  ["DropStmt", "DROP INDEX invoice_pkey", "opaque"],
  ["DropStmt", "DROP SEQUENCE ticket_seq", "public.ticket_seq"],
  ["IndexStmt", "CREATE INDEX ON invoice (total)", "public.invoice"],
  ["RenameStmt", "ALTER TABLE invoice RENAME TO inv", "public.invoice"],
  ["RenameStmt", "ALTER TABLE invoice RENAME COLUMN total TO amount", "public.invoice"],
  ["RenameStmt", "ALTER SCHEMA public RENAME TO pub", "opaque"],
  ["RenameStmt", "ALTER INDEX invoice_pkey RENAME TO x", "refused"],
  ["RenameStmt", "ALTER FUNCTION add_one(int) RENAME TO add_two", "opaque"],
  ["RenameStmt", "ALTER TYPE mood RENAME TO feeling", "opaque"],
  ["CommentStmt", "COMMENT ON TABLE invoice IS 'x'", "public.invoice"],
  ["CommentStmt", "COMMENT ON COLUMN invoice.total IS 'x'", "public.invoice"],
  ["CommentStmt", "COMMENT ON COLUMN public.invoice.total IS 'x'", "public.invoice"],
  ["CommentStmt", "COMMENT ON SCHEMA public IS 'x'", "opaque"],
  ["CommentStmt", "COMMENT ON FUNCTION add_one(int) IS 'x'", "opaque"],
  ["AlterSeqStmt", "ALTER SEQUENCE ticket_seq RESTART", "public.ticket_seq"],
  ["CreateSchemaStmt", "CREATE SCHEMA scratch", "none"],
  ["CreateEnumStmt", "CREATE TYPE scratch_enum AS ENUM ('a')", "none"],
  ["AlterEnumStmt", "ALTER TYPE mood RENAME VALUE 'sad' TO 'happy'", "opaque"],
  ["CompositeTypeStmt", "CREATE TYPE scratch_pair AS (a int, b int)", "none"],
  ["CreateDomainStmt", "CREATE DOMAIN scratch_dom AS int", "none"],
  ["AlterDomainStmt", "ALTER DOMAIN positive_int DROP CONSTRAINT positive_int_check", "opaque"],
  ["TruncateStmt", "TRUNCATE invoice", "public.invoice"],
  ["RefreshMatViewStmt", "REFRESH MATERIALIZED VIEW invoice_totals", "public.invoice_totals"],
  ["AlterObjectSchemaStmt", "ALTER TABLE invoice SET SCHEMA sales", "public.invoice"],
  ["AlterObjectSchemaStmt", "ALTER FUNCTION add_one(int) SET SCHEMA sales", "opaque"],
  ["CreateStatsStmt", "CREATE STATISTICS st_scratch ON invoice_id, customer_id FROM invoice", "public.invoice"],
  ["AlterStatsStmt", "ALTER STATISTICS st_scratch SET STATISTICS 10", "opaque"],
  ["CreateRangeStmt", "CREATE TYPE scratch_range AS RANGE (subtype = int)", "none"],
  ["CreateFunctionStmt", "CREATE OR REPLACE FUNCTION add_one(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 2'", "opaque"],
  ["AlterFunctionStmt", "ALTER FUNCTION add_one(int) VOLATILE", "opaque"],
  ["CreateTrigStmt", "CREATE TRIGGER t BEFORE INSERT ON invoice FOR EACH ROW EXECUTE FUNCTION add_one()", "refused"],
  ["RuleStmt", "CREATE RULE r AS ON INSERT TO invoice DO INSTEAD NOTHING", "refused"],
  ["CreateCastStmt", "CREATE CAST (int AS text) WITH FUNCTION add_one(int)", "opaque"],
  ["CreateOpClassStmt", "CREATE OPERATOR CLASS oc FOR TYPE int USING btree AS OPERATOR 1 <", "opaque"],
  ["CreateConversionStmt", "CREATE CONVERSION cv FOR 'UTF8' TO 'LATIN1' FROM utf8_to_iso8859_1", "opaque"],
  ["CreateTransformStmt", "CREATE TRANSFORM FOR int LANGUAGE sql (FROM SQL WITH FUNCTION add_one(int))", "opaque"],
  ["DefineStmt", "CREATE OPERATOR @@@ (LEFTARG = int, RIGHTARG = int, FUNCTION = int4pl)", "opaque"],
  ["CreateExtensionStmt", "CREATE EXTENSION pgcrypto", "opaque"],
  ["AlterExtensionStmt", "ALTER EXTENSION plpgsql UPDATE", "refused"],
  ["AlterExtensionContentsStmt", "ALTER EXTENSION plpgsql ADD FUNCTION add_one(int)", "refused"],
  // Named in the finding: refused outright on every link (roles, privileges, row security, publications).
  ["SecLabelStmt", "SECURITY LABEL ON TABLE invoice IS 'x'", "refused"],
  ["ReassignOwnedStmt", "REASSIGN OWNED BY current_user TO postgres", "refused"],
  ["DropOwnedStmt", "DROP OWNED BY current_user", "refused"],
  ["CreatePolicyStmt", "CREATE POLICY p ON invoice USING (true)", "refused"],
  ["AlterPolicyStmt", "ALTER POLICY p ON invoice USING (true)", "refused"],
  ["CreatePublicationStmt", "CREATE PUBLICATION pub FOR ALL TABLES", "refused"],
  ["AlterPublicationStmt", "ALTER PUBLICATION pub ADD TABLE invoice", "refused"],
];

function summary(writes: readonly WriteEffect[]): string {
  if (writes.some((w) => w.opaque)) return "opaque";
  const tables = [...new Set(writes.map((w) => w.table ?? "none"))];
  return tables.join(",");
}

/** Every statement kind dispatch.ts routes to the DDL, code or extension families. */
function routedDdlKinds(): string[] {
  const source = readFileSync(new URL("../src/analyze/dispatch.ts", import.meta.url), "utf8");
  const kinds: string[] = [];
  let pending: string[] = [];
  for (const line of source.split("\n")) {
    const c = /^\s*case "(\w+)":/.exec(line);
    if (c) pending.push(c[1]!);
    else if (pending.length) {
      if (/return (ddlStatement|codeCreation|extensionStatement)\(/.test(line)) kinds.push(...pending);
      pending = [];
    }
  }
  return kinds;
}

describe("DDL effects (attack finding 3): every DDL kind, decided", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });

  it("the table lists every kind dispatch routes to DDL, code creation or extensions", () => {
    const routed = routedDdlKinds();
    expect(routed.length).toBeGreaterThan(25);
    const listed = new Set(CASES.map(([kind]) => kind));
    expect(routed.filter((k) => !listed.has(k))).toEqual([]);
    for (const [kind, sql] of CASES) {
      const parsed = parseSql(sql);
      expect(parsed.ok && Object.keys(parsed.statements[0]!.stmt)[0], sql).toBe(kind);
    }
  });

  for (const [kind, sql, expected] of CASES)
    it(`${kind}: ${sql} → ${expected}`, () => {
      const verdict = checker.check(sql, ADMIN, chinookCatalog);
      if (expected === "refused") return expect(verdict.allowed, sql).toBe(false);
      expect(verdict.allowed, verdict.reason).toBe(true);
      expect(summary(verdict.writes)).toBe(expected);
      for (const w of verdict.writes) expect(w.destructive).toBe(true);
      // The invoice rule (destructive) applies to whatever is opaque or reaches invoice.
      const requirement = approvalFor(verdict, ADMIN);
      if (expected === "opaque" || expected === "public.invoice") expect(requirement?.tables).toEqual(["public.invoice"]);
      else expect(requirement).toBeNull();
    });
});

describe("inheritance and partitions (attack finding 4): the parent and its ancestors are reached", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });
  const onInvoice = ADMIN;
  const onNote = scope({ access: "admin", tables: { note: { approval: "writes" } } });
  const onGenre = scope({ access: "admin", tables: { genre: { approval: "destructive" } } });
  const cases: [Scope, string, string[]][] = [
    // t07: rows injected into an approval table by making another table its child.
    [onInvoice, "ALTER TABLE genre INHERIT invoice", ["public.invoice"]],
    [onInvoice, "ALTER TABLE ONLY genre INHERIT public.invoice", ["public.invoice"]],
    [onInvoice, "ALTER TABLE genre NO INHERIT invoice", ["public.invoice"]],
    [onNote, "ALTER TABLE genre INHERIT secret_note", ["public.note"]],
    [onNote, "ALTER TABLE secret_note NO INHERIT note", ["public.note"]],
    [onInvoice, "ALTER TABLE invoice ATTACH PARTITION genre FOR VALUES IN (1)", ["public.invoice"]],
    [onInvoice, "ALTER TABLE invoice DETACH PARTITION genre", ["public.invoice"]],
    // The attached or detached table's own rule applies too.
    [onGenre, "ALTER TABLE invoice ATTACH PARTITION genre FOR VALUES IN (1)", ["public.genre"]],
    [onGenre, "ALTER TABLE invoice DETACH PARTITION genre CONCURRENTLY", ["public.genre"]],
  ];
  for (const [s, sql, tables] of cases)
    it(sql, () => {
      const verdict = checker.check(sql, s, chinookCatalog);
      expect(verdict.allowed, verdict.reason).toBe(true);
      expect(verdict.writes.every((w) => w.destructive)).toBe(true);
      const requirement = approvalFor(verdict, s);
      expect(requirement?.kind).toBe("approval");
      for (const t of tables) expect(requirement!.tables).toContain(t);
    });
});
