import { describe, expect, it } from "vitest";
import { StatementAnalyzer } from "../src/analyze/analyzer.js";
import { generic } from "../src/analyze/expressions.js";
import { permissiveFrame } from "../src/analyze/tree.js";
import { createPolicyChecker } from "../src/decide/checker.js";
import { parseSql, type PgNode } from "../src/parse/parse.js";
import type { RewriteAnchor } from "../src/rewrite/types.js";
import { accessView } from "../src/scope/access.js";
import { parseScope } from "../src/scope/schema.js";
import type { Scope } from "../src/scope/schema.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";
import { SCOPES } from "./support/scopes.js";

/** The anchors the analyzer records for one statement, and the statement's tree. */
function analyse(sql: string, scope: Scope = SCOPES.full): { anchors: RewriteAnchor[]; tree: PgNode } {
  const parsed = parseSql(sql);
  if (!parsed.ok) throw new Error(parsed.message);
  const analyzer = new StatementAnalyzer(accessView(scope, chinookCatalog));
  analyzer.analyzeRaw(parsed.statements[0]!, sql);
  return { anchors: analyzer.plan.anchors, tree: parsed.statements[0]!.stmt };
}

function sources(sql: string, scope?: Scope): string[] {
  return analyse(sql, scope).anchors.flatMap((a) => (a.kind === "source" ? [`${a.rel.key} ${(a.rangeVar.alias as PgNode | undefined)?.aliasname ?? "-"}`] : []));
}

function columns(sql: string, scope: Scope = FULL_GOVERNING): string[] {
  return analyse(sql, scope).anchors.flatMap((a) => (a.kind === "column" ? [`${a.where} ${a.rel.key}.${a.column}${a.qualifiedBySchema ? " (schema-qualified)" : ""}`] : []));
}

/** A scope governing one table no column test reads: column anchors are recorded only when a scope governs something. */
function governing(doc: { access: "admin" | "read"; tables?: Record<string, unknown> }): Scope {
  const parsed = parseScope({ ...doc, tables: { ...doc.tables, playlist: { rowFilter: "playlist_id > 0" } } });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}
const FULL_GOVERNING = governing({ access: "admin" });
const WRITE_GOVERNING = governing({
  access: "read",
  tables: { invoice: { access: "write" }, invoice_line: { access: "write" }, customer: { access: "write", hiddenColumns: ["email"] } },
});

/** Every object of the tree, by identity: an anchor must point into the checked tree itself. */
function objectsOf(tree: unknown, into = new Set<unknown>()): Set<unknown> {
  if (tree && typeof tree === "object") {
    into.add(tree);
    for (const value of Object.values(tree)) objectsOf(value, into);
  }
  return into;
}

describe("source anchors: every read of a user relation", () => {
  it("FROM and JOIN, each reference once, with the wrapper the rewrite replaces", () => {
    const { anchors, tree } = analyse("SELECT a.title, ar.name FROM album a JOIN artist ar ON ar.artist_id = a.artist_id JOIN album b ON b.album_id = a.album_id");
    const found = anchors.filter((a) => a.kind === "source");
    expect(found.map((a) => a.rel.key)).toEqual(["public.album", "public.artist", "public.album"]);
    const objects = objectsOf(tree);
    for (const a of found) {
      // The wrapper holds exactly one key, RangeVar, whose value is the recorded inner node.
      expect(Object.keys(a.node)).toEqual(["RangeVar"]);
      expect(a.node.RangeVar).toBe(a.rangeVar);
      expect(objects.has(a.node)).toBe(true);
    }
  });

  it("CTE bodies, UNION arms, IN and EXISTS sublinks, LATERAL subqueries", () => {
    expect(sources("WITH t AS (SELECT album_id FROM album) SELECT * FROM t")).toEqual(["public.album -"]);
    expect(sources("SELECT name FROM artist UNION SELECT title FROM album x")).toEqual(["public.artist -", "public.album x"]);
    expect(sources("SELECT title FROM album WHERE artist_id IN (SELECT artist_id FROM artist)")).toEqual(["public.album -", "public.artist -"]);
    expect(sources("SELECT 1 WHERE EXISTS (SELECT 1 FROM track t WHERE t.track_id = 1)")).toEqual(["public.track t"]);
    expect(sources("SELECT a.title, l.n FROM album a, LATERAL (SELECT count(*) AS n FROM track t WHERE t.album_id = a.album_id) l")).toEqual([
      "public.album a",
      "public.track t",
    ]);
  });

  it("the statement EXPLAIN plans", () => {
    expect(sources("EXPLAIN SELECT * FROM genre g JOIN track USING (genre_id)")).toEqual(["public.genre g", "public.track -"]);
  });

  it("read sources of writes: UPDATE … FROM, DELETE … USING, MERGE … USING", () => {
    expect(sources("UPDATE invoice i SET total = 0 FROM customer c WHERE c.customer_id = i.customer_id")).toEqual(["public.customer c"]);
    expect(sources("DELETE FROM invoice_line il USING track t WHERE t.track_id = il.track_id")).toEqual(["public.track t"]);
    expect(sources("MERGE INTO invoice i USING customer c ON c.customer_id = i.customer_id WHEN MATCHED THEN UPDATE SET total = 1")).toEqual([
      "public.customer c",
    ]);
  });

  it("a CTE shadowing a table name is not a source; the table it reads is", () => {
    expect(sources("WITH album AS (SELECT 1 AS album_id) SELECT * FROM album")).toEqual([]);
    expect(sources("WITH album AS (SELECT album_id FROM public.album) SELECT album_id FROM album")).toEqual(["public.album -"]);
  });
});

describe("DML target anchors", () => {
  it("INSERT, UPDATE, DELETE and MERGE record their target with the statement node", () => {
    for (const [sql, kind] of [
      ["INSERT INTO invoice_line (invoice_id, track_id, unit_price, quantity) VALUES (1, 1, 1, 1)", "InsertStmt"],
      ["UPDATE invoice SET total = 0 WHERE invoice_id = 1", "UpdateStmt"],
      ["DELETE FROM invoice WHERE invoice_id = 1", "DeleteStmt"],
      ["MERGE INTO invoice i USING (SELECT 1 AS id) s ON s.id = i.invoice_id WHEN MATCHED THEN DELETE", "MergeStmt"],
    ] as const) {
      const { anchors, tree } = analyse(sql, SCOPES.write);
      const targets = anchors.filter((a) => a.kind === "dml_target");
      expect(targets, sql).toHaveLength(1);
      const t = targets[0]!;
      if (t.kind !== "dml_target") throw new Error("unreachable");
      expect(t.stmtKind).toBe(kind);
      expect(t.stmt).toBe(tree[kind]);
      expect(t.rangeVar).toBe((tree[kind] as PgNode).relation);
      // The target is not also a read source.
      expect(anchors.filter((a) => a.kind === "source" && a.rel.key === t.rel.key)).toEqual([]);
    }
  });

  it("a data-modifying CTE's target", () => {
    const { anchors } = analyse("WITH d AS (DELETE FROM invoice WHERE total = 0 RETURNING invoice_id) SELECT count(*) FROM d", SCOPES.write);
    expect(anchors.filter((a) => a.kind === "dml_target").map((a) => a.rel.key)).toEqual(["public.invoice"]);
  });
});

describe("column anchors", () => {
  it("source columns, qualified and not, under aliases, with the relation's own column name", () => {
    expect(columns("SELECT c.first_name, country FROM customer c WHERE c.customer_id = 1")).toEqual([
      "source public.customer.customer_id",
      "source public.customer.first_name",
      "source public.customer.country",
    ]);
    // A column alias list renames by position: the anchor names the real column.
    expect(columns("SELECT x.n FROM artist AS x(id, n)")).toEqual(["source public.artist.name"]);
  });

  it("schema-qualified column references are marked for requalification", () => {
    expect(columns("SELECT public.album.title FROM public.album")).toEqual(["source public.album.title (schema-qualified)"]);
  });

  it("*, t.* and whole-row references are column '*'", () => {
    expect(columns("SELECT * FROM genre")).toEqual(["source public.genre.*"]);
    expect(columns("SELECT g.* FROM genre g")).toEqual(["source public.genre.*"]);
    expect(columns("SELECT row_to_json(g) FROM genre g")).toEqual(["source public.genre.*"]);
    expect(columns("SELECT count(g.*) FROM genre g")).toEqual(["source public.genre.*"]);
  });

  it("the DML target's own columns in WHERE, SET and ON CONFLICT; RETURNING apart; excluded is not the table", () => {
    expect(columns("UPDATE invoice SET total = total + 1 WHERE billing_country = 'X' RETURNING total", WRITE_GOVERNING)).toEqual([
      "dml_target public.invoice.total",
      "dml_target public.invoice.billing_country",
      "returning public.invoice.total",
    ]);
    expect(
      columns(
        "INSERT INTO invoice_line (invoice_line_id, invoice_id, track_id, unit_price, quantity) VALUES (1, 1, 1, 1, 1) ON CONFLICT (invoice_line_id) DO UPDATE SET quantity = excluded.quantity WHERE invoice_line.quantity < 5",
        WRITE_GOVERNING,
      ),
    ).toEqual(["dml_target public.invoice_line.quantity"]);
  });

  it("a read source's columns inside a write stay source columns", () => {
    expect(columns("DELETE FROM invoice i USING customer c WHERE c.customer_id = i.customer_id", WRITE_GOVERNING)).toEqual([
      "source public.customer.customer_id",
      "dml_target public.invoice.customer_id",
    ]);
  });

  it("none on a link that governs nothing (no rewrite reads them)", () => {
    expect(columns("SELECT c.first_name FROM customer c WHERE c.customer_id = 1", SCOPES.full)).toEqual([]);
    expect(columns("UPDATE invoice SET total = 1 WHERE total = 0 RETURNING total", SCOPES.write)).toEqual([]);
  });

  it("GROUP BY inside GROUPING SETS / ROLLUP resolves an input column first, so it is anchored", () => {
    expect(columns("SELECT country FROM customer GROUP BY ROLLUP (country)")).toEqual(["source public.customer.country", "source public.customer.country"]);
  });

  it("names resolving to a CTE, a subquery or an output column are not relation columns", () => {
    expect(columns("WITH t AS (SELECT 1 AS x) SELECT x FROM t")).toEqual([]);
    expect(columns("SELECT s.y FROM (SELECT 1 AS y) s")).toEqual([]);
    expect(columns("SELECT name AS n FROM genre ORDER BY n")).toEqual(["source public.genre.name"]);
  });
});

describe("a RangeVar without a wrapper (no anchor possible) outside DDL", () => {
  it("is refused where the rewrite would have to act, and checked as before elsewhere", () => {
    const walk = (scope: Scope, relname: string) => () =>
      generic(new StatementAnalyzer(accessView(scope, chinookCatalog)), { relation: { relname, inh: true } }, permissiveFrame(null), {});
    expect(walk(FULL_GOVERNING, "playlist")).toThrow(/row filters, masks or catalog view cannot be applied/);
    expect(walk(SCOPES.read, "pg_class")).toThrow(/cannot be applied/);
    expect(walk(FULL_GOVERNING, "album")).not.toThrow();
    expect(walk(SCOPES.full, "pg_class")).not.toThrow();
    expect(walk(SCOPES.read, "employee")).toThrow(/does not exist/);
  });
});

describe("catalog anchors", () => {
  it("pg_catalog and information_schema relations, qualified or found through pg_catalog first", () => {
    const { anchors } = analyse("SELECT c.relname FROM pg_class c JOIN information_schema.tables t ON t.table_name = c.relname");
    expect(anchors.filter((a) => a.kind === "catalog").map((a) => (a.kind === "catalog" ? a.key : ""))).toEqual([
      "pg_catalog.pg_class",
      "information_schema.tables",
    ]);
    expect(anchors.some((a) => a.kind === "source")).toBe(false);
  });

  it("not the harmless catalogs (nothing per user object to answer virtually)", () => {
    expect(analyse("SELECT name FROM pg_settings, pg_database").anchors).toEqual([]);
  });

  it("a statement touching no relation records nothing", () => {
    expect(analyse("SELECT 1 + 1, now()").anchors).toEqual([]);
  });
});

// Not anchors: the classes of the statements slice S stopped refusing (issue 14 item 6), which decide
// how the gateway runs them (READ ONLY or not, inside a transaction block or not).
describe("classes of row locks, VACUUM/ANALYZE and EXPLAIN ANALYZE of a write", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });
  it("a row lock is a write, wherever it sits", () => {
    for (const sql of ["SELECT invoice_id FROM invoice FOR UPDATE", "SELECT 1 WHERE EXISTS (SELECT 1 FROM invoice FOR SHARE)", "WITH l AS (SELECT invoice_id FROM invoice FOR UPDATE) SELECT * FROM l"]) {
      expect(checker.check(sql, SCOPES.write, chinookCatalog), sql).toMatchObject({ allowed: true, classes: ["write"], readOnly: false });
    }
    // Plain EXPLAIN only plans, but planning a row lock needs UPDATE privilege: classed as the write.
    expect(checker.check("EXPLAIN SELECT invoice_id FROM invoice FOR UPDATE", SCOPES.write, chinookCatalog)).toMatchObject({ allowed: true, classes: ["write"], readOnly: false });
    expect(checker.check("EXPLAIN SELECT invoice_id FROM invoice", SCOPES.write, chinookCatalog)).toMatchObject({ allowed: true, readOnly: true });
  });

  it("VACUUM and ANALYZE are utility statements", () => {
    expect(checker.check("VACUUM (ANALYZE) album", SCOPES.full, chinookCatalog)).toMatchObject({ allowed: true, classes: ["utility"], readOnly: false });
    expect(checker.check("ANALYZE", SCOPES.full, chinookCatalog)).toMatchObject({ allowed: true, classes: ["utility"], readOnly: false });
  });

  it("EXPLAIN ANALYZE of a write is the write", () => {
    expect(checker.check("EXPLAIN ANALYZE DELETE FROM genre WHERE false", SCOPES.full, chinookCatalog)).toMatchObject({ allowed: true, classes: ["write"], readOnly: false });
  });
});

describe("an admin link cannot change a governed table's shape (it would escape or reach past its filter)", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });
  const parsed = parseScope({
    access: "admin",
    tables: { customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email" } } },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  const adminGoverned = parsed.scope;

  it("refuses DDL that names the governed table", () => {
    for (const sql of [
      "ALTER TABLE customer RENAME TO c2",
      "ALTER TABLE customer RENAME COLUMN email TO contact",
      "ALTER TABLE customer DROP COLUMN support_rep_id",
      "TRUNCATE customer",
      "DROP TABLE customer",
      "CREATE TABLE c2 () INHERITS (customer)",
      "ALTER TABLE invoice ADD CONSTRAINT f FOREIGN KEY (customer_id) REFERENCES customer (customer_id)",
    ]) {
      expect(checker.check(sql, adminGoverned, chinookCatalog), sql).toMatchObject({ allowed: false, ruleId: "ddl_not_permitted", object: "public.customer" });
    }
  });

  it("other tables stay the admin's", () => {
    for (const sql of ["ALTER TABLE album RENAME COLUMN title TO name2", "TRUNCATE genre", "DROP TABLE playlist_track"])
      expect(checker.check(sql, adminGoverned, chinookCatalog), sql).toMatchObject({ allowed: true });
  });
});
