import { describe, expect, it } from "vitest";
import { approvalFor, createPolicyChecker, describeScope, parseScope, summarizeScope, type Catalog, type CatalogFunction, type CatalogRelation, type Scope } from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

/** Chinook plus a partitioned table with two partitions (the fixture database has none). */
function withPartitions(): Catalog {
  const rel = (name: string, kind: CatalogRelation["kind"], children: string[], oid: number): CatalogRelation => ({
    oid,
    schema: "public",
    name,
    kind,
    columns: [
      { name: "id", type: "integer", nullable: false, hasDefault: false },
      { name: "reading", type: "integer", nullable: true, hasDefault: false },
    ],
    primaryKey: [],
    foreignKeys: [],
    children,
  });
  return {
    ...chinookCatalog,
    version: `${chinookCatalog.version}+partitions`,
    relations: {
      ...chinookCatalog.relations,
      "public.measurement": rel("measurement", "partitioned_table", ["public.measurement_2025", "public.measurement_2026"], 990001),
      "public.measurement_2025": rel("measurement_2025", "table", [], 990002),
      "public.measurement_2026": rel("measurement_2026", "table", [], 990003),
    },
  };
}

/** Chinook with invoice_line's key to invoice ON DELETE CASCADE (the fixture's keys are NO ACTION). */
function withCascade(): Catalog {
  const line = chinookCatalog.relations["public.invoice_line"]!;
  return {
    ...chinookCatalog,
    version: `${chinookCatalog.version}+cascade`,
    relations: {
      ...chinookCatalog.relations,
      "public.invoice_line": { ...line, foreignKeys: line.foreignKeys.map((fk) => (fk.references === "public.invoice" ? { ...fk, onDelete: "cascade" as const } : fk)) },
    },
  };
}

const SCOPES = {
  tableWrites: scope({ access: "write", tables: { invoice: { approval: "writes" }, employee: { access: "none" } } }),
  linkDestructive: scope({ access: "write", approval: "destructive" }),
  mixed: scope({ access: "write", approval: "confirm", tables: { invoice: { approval: "destructive" }, genre: { approval: "writes" } } }),
  adminTable: scope({ access: "admin", tables: { invoice: { approval: "destructive" } } }),
  adminLink: scope({ access: "admin", approval: "writes" }),
  none: scope({ access: "admin" }),
  noteParent: scope({ access: "write", tables: { note: { approval: "writes" } } }),
  noteChild: scope({ access: "write", tables: { secret_note: { approval: "writes" } } }),
  partitionParent: scope({ access: "write", tables: { measurement: { approval: "writes" } } }),
  partitionOwn: scope({ access: "write", tables: { measurement: { approval: "writes" }, measurement_2026: { approval: "confirm" } } }),
  sequence: scope({ access: "write", approval: "writes" }),
  cascadeLine: scope({ access: "write", tables: { invoice_line: { approval: "writes" } } }),
  cascadeLinePlain: scope({ access: "write", tables: { invoice_line: { approval: "writes" } } }),
};

type Expected = null | { kind: "approval" | "confirm"; mode: string; tables: string[] };

const CASES: [string, keyof typeof SCOPES, string, Expected][] = [
  // Reads never need a decision, whatever the rule.
  ["read", "tableWrites", "SELECT total FROM invoice WHERE invoice_id = 1", null],
  ["read under a link rule", "adminLink", "SELECT count(*) FROM invoice", null],
  ["plain EXPLAIN of a DELETE plans only", "linkDestructive", "EXPLAIN DELETE FROM invoice", null],
  ["EXPLAIN ANALYZE of a read", "adminLink", "EXPLAIN ANALYZE SELECT 1", null],
  // approval: writes on one table.
  ["INSERT on the table", "tableWrites", "INSERT INTO invoice (invoice_id, customer_id, invoice_date, total) VALUES (999, 1, now(), 1)", { kind: "approval", mode: "writes", tables: ["public.invoice"] }],
  ["UPDATE with WHERE on the table (alias)", "tableWrites", "UPDATE invoice AS i SET total = 2 WHERE i.invoice_id = 1", { kind: "approval", mode: "writes", tables: ["public.invoice"] }],
  ["a write on another table", "tableWrites", "UPDATE album SET title = 'x' WHERE album_id = 1", null],
  ["a data-modifying CTE writing the table", "tableWrites", "WITH d AS (DELETE FROM invoice WHERE invoice_id = 1 RETURNING invoice_id) SELECT count(*) FROM d", { kind: "approval", mode: "writes", tables: ["public.invoice"] }],
  ["schema-qualified with ONLY", "tableWrites", "DELETE FROM ONLY public.invoice WHERE invoice_id = 1", { kind: "approval", mode: "writes", tables: ["public.invoice"] }],
  // approval: destructive at link level.
  ["INSERT is not destructive", "linkDestructive", "INSERT INTO genre (genre_id, name) VALUES (99, 'x')", null],
  ["UPDATE with WHERE is not destructive", "linkDestructive", "UPDATE genre SET name = 'x' WHERE genre_id = 1", null],
  ["UPDATE without WHERE is", "linkDestructive", "UPDATE genre SET name = upper(name)", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE WHERE true is no WHERE", "linkDestructive", "UPDATE genre SET name = upper(name) WHERE true", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["DELETE with WHERE is", "linkDestructive", "DELETE FROM genre WHERE genre_id = 1", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  // Attack finding 5: destructive is decided from what the WHERE narrows by, not from its wording.
  ["MERGE that updates matched rows is", "linkDestructive", "MERGE INTO genre g USING (SELECT 1 AS id) s ON g.genre_id = s.id WHEN MATCHED THEN UPDATE SET name = 'x'", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["t06: MERGE … ON true WHEN MATCHED THEN UPDATE", "linkDestructive", "MERGE INTO genre g USING (SELECT 1 AS id) s ON true WHEN MATCHED THEN UPDATE SET name = 'x'", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["MERGE that only inserts is not", "linkDestructive", "MERGE INTO genre g USING (SELECT 99 AS id) s ON g.genre_id = s.id WHEN NOT MATCHED THEN INSERT (genre_id, name) VALUES (s.id, 'x')", null],
  ["t06: UPDATE … WHERE NOT false", "linkDestructive", "UPDATE genre SET name = 'x' WHERE NOT false", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["t06: UPDATE … WHERE 't'", "linkDestructive", "UPDATE genre SET name = 'x' WHERE 't'", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … WHERE 1=1", "linkDestructive", "UPDATE genre SET name = 'x' WHERE 1=1", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … WHERE true AND true", "linkDestructive", "UPDATE genre SET name = 'x' WHERE true AND true", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … WHERE on a parameter", "linkDestructive", "UPDATE genre SET name = 'x' WHERE $1::int = 1", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … WHERE an uncorrelated subquery", "linkDestructive", "UPDATE genre SET name = 'x' WHERE EXISTS (SELECT 1 FROM track t WHERE t.track_id = 1)", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … WHERE a subquery whose own genre shadows the target", "linkDestructive", "UPDATE genre SET name = 'x' WHERE EXISTS (SELECT 1 FROM genre WHERE genre.genre_id = 1)", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … WHERE a subquery's unqualified column of its own table", "linkDestructive", "UPDATE genre SET name = 'x' WHERE EXISTS (SELECT 1 FROM track WHERE track_id = 1)", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … FROM joined on nothing of the target", "linkDestructive", "UPDATE genre g SET name = 'x' FROM track t WHERE t.track_id = 1", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["UPDATE … FROM joined on the target's key is not", "linkDestructive", "UPDATE genre g SET name = 'x' FROM track t WHERE t.genre_id = g.genre_id AND t.track_id = 1", null],
  ["UPDATE … WHERE a correlated subquery is not", "linkDestructive", "UPDATE genre SET name = 'x' WHERE EXISTS (SELECT 1 FROM track t WHERE t.genre_id = genre.genre_id)", null],
  ["UPDATE … WHERE column IN (subquery) is not", "linkDestructive", "UPDATE genre SET name = 'x' WHERE genre_id IN (SELECT genre_id FROM track WHERE track_id = 1)", null],
  ["UPDATE … WHERE schema-qualified column is not", "linkDestructive", "UPDATE public.genre SET name = 'x' WHERE public.genre.genre_id = 1", null],
  ["INSERT … ON CONFLICT DO UPDATE is", "linkDestructive", "INSERT INTO genre (genre_id, name) VALUES (1, 'x') ON CONFLICT (genre_id) DO UPDATE SET name = excluded.name", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["INSERT … ON CONFLICT DO NOTHING is not", "linkDestructive", "INSERT INTO genre (genre_id, name) VALUES (1, 'x') ON CONFLICT DO NOTHING", null],
  ["MERGE with a DELETE action is", "linkDestructive", "MERGE INTO genre g USING (SELECT 1 AS id) s ON g.genre_id = s.id WHEN MATCHED THEN DELETE", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  ["a CTE DELETE inside a read", "linkDestructive", "WITH d AS (DELETE FROM genre WHERE genre_id = 1 RETURNING 1) SELECT * FROM d", { kind: "approval", mode: "destructive", tables: ["public.genre"] }],
  // The table's own rule wins over the link's; any approval beats confirmation.
  ["link confirm on an unruled table", "mixed", "UPDATE album SET title = 'x' WHERE album_id = 1", { kind: "confirm", mode: "confirm", tables: ["public.album"] }],
  ["own destructive rule, harmless write: no link confirm", "mixed", "UPDATE invoice SET total = 1 WHERE invoice_id = 1", null],
  ["own destructive rule, destructive write", "mixed", "DELETE FROM invoice WHERE invoice_id = 1", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["approval beats confirmation in one statement", "mixed", "WITH a AS (UPDATE album SET title = 'x' WHERE album_id = 1 RETURNING 1) INSERT INTO genre (genre_id, name) VALUES (99, 'x')", { kind: "approval", mode: "writes", tables: ["public.genre"] }],
  ["writes beats destructive", "mixed", "DELETE FROM invoice WHERE invoice_id = 1; INSERT INTO genre (genre_id, name) VALUES (99, 'x')", { kind: "approval", mode: "writes", tables: ["public.invoice", "public.genre"] }],
  // TRUNCATE and DDL are destructive; DDL on no table follows the link's rule only.
  ["TRUNCATE", "adminTable", "TRUNCATE invoice", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["TRUNCATE … CASCADE reaches referencing tables", "adminTable", "TRUNCATE customer CASCADE", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["TRUNCATE of another table", "adminTable", "TRUNCATE playlist_track", null],
  ["CREATE INDEX on the table", "adminTable", "CREATE INDEX ON invoice (total)", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["ALTER TABLE", "adminTable", "ALTER TABLE invoice ADD COLUMN note text", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["DROP TABLE", "adminTable", "DROP TABLE invoice", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  // New or changed code can write anything later: every rule applies (attack finding 1).
  ["CREATE FUNCTION under a table rule only", "adminTable", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["CREATE OR REPLACE FUNCTION", "adminTable", "CREATE OR REPLACE FUNCTION add_one(x int) RETURNS int LANGUAGE sql AS 'SELECT x + 2'", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["ALTER FUNCTION", "adminTable", "ALTER FUNCTION add_one(int) VOLATILE", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["DROP FUNCTION", "adminTable", "DROP FUNCTION add_one(int)", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["CREATE FUNCTION under a link rule", "adminLink", "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1'", { kind: "approval", mode: "writes", tables: [] }],
  ["a read-only SQL function (the loader parsed its body)", "tableWrites", "SELECT add_one(total::int) FROM invoice", null],
  ["a STABLE PL/pgSQL function may call a writer", "adminTable", "SELECT album_title(1)", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["no approval anywhere: a function call needs nothing", "none", "SELECT album_title(1)", null],
  // The planner folds IMMUTABLE/STABLE calls with constant arguments while planning: a plain EXPLAIN
  // run read-write (it plans a row lock) may run the code; one run READ ONLY cannot write.
  ["a plain EXPLAIN planning a row lock keeps the call's effect", "adminTable", "EXPLAIN SELECT album_title(1) FROM genre FOR UPDATE", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["a plain EXPLAIN of a read calling it runs READ ONLY", "adminTable", "EXPLAIN SELECT album_title(1)", null],
  ["CREATE TABLE names the new table", "adminLink", "CREATE TABLE scratch (id int)", { kind: "approval", mode: "writes", tables: ["public.scratch"] }],
  // Code whose writes cannot be listed meets every rule.
  ["DO block", "adminTable", "DO $$ BEGIN UPDATE genre SET name = name WHERE genre_id = 1; END $$", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["CALL", "adminTable", "CALL reset_genre()", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["a VOLATILE function in a SELECT", "adminTable", "SELECT bump_genre()", { kind: "approval", mode: "destructive", tables: ["public.invoice"] }],
  ["no rule at all", "none", "DELETE FROM invoice", null],
  ["nextval writes the sequence", "sequence", "SELECT nextval('ticket_seq')", { kind: "approval", mode: "writes", tables: ["public.ticket_seq"] }],
  // Inheritance and partitions follow a parent with no rule of their own; a parent reaches its children.
  ["inheritance child follows the parent's rule", "noteParent", "INSERT INTO secret_note (id, body, classified) VALUES (3, 'x', false)", { kind: "approval", mode: "writes", tables: ["public.note"] }],
  ["a parent without ONLY reaches a child's rule", "noteChild", "UPDATE note SET body = 'x' WHERE id = 1", { kind: "approval", mode: "writes", tables: ["public.secret_note"] }],
  ["with ONLY it does not", "noteChild", "UPDATE ONLY note SET body = 'x' WHERE id = 1", null],
  ["a partition follows its parent", "partitionParent", "UPDATE measurement_2025 SET reading = 1 WHERE id = 1", { kind: "approval", mode: "writes", tables: ["public.measurement"] }],
  ["a partition's own rule wins", "partitionOwn", "UPDATE measurement_2026 SET reading = 1 WHERE id = 1", { kind: "confirm", mode: "confirm", tables: ["public.measurement_2026"] }],
  // The database's own writes for the statement: ON DELETE CASCADE reaches the referencing table.
  ["ON DELETE CASCADE reaches the referencing table's rule", "cascadeLine", "DELETE FROM invoice WHERE invoice_id = 1", { kind: "approval", mode: "writes", tables: ["public.invoice_line"] }],
  ["an UPDATE fires no ON DELETE action", "cascadeLine", "UPDATE invoice SET total = 1 WHERE invoice_id = 1", null],
  ["NO ACTION keys reach nothing", "cascadeLinePlain", "DELETE FROM invoice WHERE invoice_id = 1", null],
  ["the parent reaches partitions with their own rule", "partitionOwn", "UPDATE measurement SET reading = 1 WHERE id = 1", { kind: "approval", mode: "writes", tables: ["public.measurement"] }],
];

describe("approvalFor: statements × scopes", () => {
  const checker = createPolicyChecker();
  const partitioned = withPartitions();
  const cascade = withCascade();
  for (const [name, scopeName, sql, expected] of CASES) {
    it(`${name} (${scopeName}): ${sql.slice(0, 70)}`, () => {
      const s = SCOPES[scopeName];
      const catalog = scopeName.startsWith("partition") ? partitioned : scopeName === "cascadeLine" ? cascade : chinookCatalog;
      const verdict = checker.check(sql, s, catalog);
      expect(verdict.allowed, verdict.reason).toBe(true);
      const requirement = approvalFor(verdict, s);
      if (expected === null) expect(requirement).toBeNull();
      else {
        expect(requirement).toMatchObject({ kind: expected.kind, mode: expected.mode });
        expect(requirement!.tables).toEqual(expected.tables);
        for (const table of expected.tables) expect(requirement!.reason).toContain(table);
        expect(requirement!.reason).toContain(`approval: ${expected.mode}`);
      }
    });
  }
});

/** Chinook plus user functions whose code the loader proved read-only or could not (attack finding 1). */
function withCode(): Catalog {
  const fn = (name: string, facts: Partial<CatalogFunction>): [string, CatalogFunction] => [
    `public.${name}`,
    { schema: "public", name, kind: "function", volatility: "stable", language: "sql", securityDefiner: false, extension: null, reads: [], calls: [], readOnly: true, arities: [[0, 1]], ...facts },
  ];
  return {
    ...chinookCatalog,
    version: `${chinookCatalog.version}+code`,
    functions: {
      ...chinookCatalog.functions,
      ...Object.fromEntries([
        fn("atk_wrap", { language: "plpgsql", reads: null, calls: null, readOnly: false }),
        fn("atk_wrap_immutable", { language: "plpgsql", volatility: "immutable", reads: null, calls: null, readOnly: false }),
        fn("sql_wrap", { volatility: "immutable", calls: ["bump_genre"] }),
        fn("sql_wrap_qualified", { calls: ["public.atk_wrap"] }),
        fn("cycle_a", { calls: ["cycle_b"] }),
        fn("cycle_b", { calls: ["cycle_a"] }),
        fn("pure_count", { reads: ["track"], calls: ["count", "pg_catalog.lower"] }),
        fn("calls_nextval", { calls: ["nextval"] }),
        fn("reads_writer_view", { reads: ["writer_view"] }),
        fn("unparsed_sql", { reads: null, calls: null, readOnly: false }),
        fn("ext_digest", { language: "c", volatility: "immutable", extension: "pgcrypto", reads: null, calls: null, readOnly: false }),
        fn("ext_plpgsql", { language: "plpgsql", volatility: "immutable", extension: "evil", reads: null, calls: null, readOnly: false }),
        // Range and multirange constructors PostgreSQL created for a range type.
        fn("atk_rng", { language: "internal", volatility: "immutable", reads: null, calls: null, readOnly: false, forType: true }),
        fn("atk_multirng", { language: "internal", volatility: "immutable", reads: null, calls: null, readOnly: false, forType: true }),
        fn("fake_for_type", { language: "plpgsql", volatility: "immutable", reads: null, calls: null, readOnly: false, forType: true }),
      ]),
    },
    // A cast from int to mood, and one from atk_ct to text, backed by a writer; a domain CHECK proven read-only.
    typeRuns: {
      "public.mood": [{ fn: "public.atk_wrap", from: "pg_catalog.int4" }],
      "public.fine": [{ fn: "public.pure_count" }],
      "pg_catalog.text": [{ fn: "public.atk_wrap", from: "public.atk_ct" }],
      "public.atk_multirng": [{ fn: "public.atk_multirng", from: "public.atk_rng" }],
    },
    builtinReturnTypes: { ...chinookCatalog.builtinReturnTypes, gen_random_uuid: "uuid", now: "timestamptz" },
    relations: {
      ...chinookCatalog.relations,
      // A default, CHECK or trigger the database runs on a write (created outside the gateway).
      "public.playlist": { ...chinookCatalog.relations["public.playlist"]!, runs: ["public.atk_wrap"] },
      "public.media_type": { ...chinookCatalog.relations["public.media_type"]!, runs: ["public.pure_count"] },
      "public.writer_view": { ...chinookCatalog.relations["public.genre"]!, name: "writer_view", kind: "view", oid: 990010, reads: [], calls: ["public.atk_wrap"] },
    },
  };
}

describe("approvalFor: user function calls (attack finding 1)", () => {
  const checker = createPolicyChecker();
  const catalog = withCode();
  const writeLink = scope({ access: "write", tables: { invoice: { approval: "writes" } } });
  const adminTable = SCOPES.adminTable;
  const cases: [string, Scope, string, boolean][] = [
    ["t02: a STABLE PL/pgSQL wrapper inside an INSERT", adminTable, "INSERT INTO genre (genre_id, name) VALUES (9001, atk_wrap()::text)", true],
    ["t04: a STABLE wrapper in a SELECT on a write link", writeLink, "SELECT atk_wrap()", true],
    ["an IMMUTABLE PL/pgSQL wrapper", writeLink, "SELECT atk_wrap_immutable()", true],
    ["an IMMUTABLE SQL function calling a VOLATILE writer", writeLink, "SELECT sql_wrap()", true],
    ["a read-only SQL body calling a PL/pgSQL function", writeLink, "SELECT sql_wrap_qualified()", true],
    ["a cycle proves nothing", writeLink, "SELECT cycle_a()", true],
    ["nextval in a body writes a sequence", writeLink, "SELECT calls_nextval()", true],
    ["a body reading a view that calls a writer", writeLink, "SELECT reads_writer_view()", true],
    ["reading a view whose definition calls a writer", writeLink, "SELECT * FROM writer_view", true],
    ["t15: an INSERT whose table's default or trigger runs a PL/pgSQL function", writeLink, "INSERT INTO playlist (playlist_id) VALUES (9100)", true],
    ["a DELETE firing a trigger", writeLink, "DELETE FROM playlist WHERE playlist_id = 9100", true],
    ["a cast whose user cast function (or domain CHECK) is unproven", writeLink, "SELECT 1::mood", true],
    ["a schema-qualified cast", writeLink, "SELECT 1::public.mood", true],
    ["a SQL body the loader could not read", writeLink, "SELECT unparsed_sql()", true],
    ["an extension function in PL/pgSQL", writeLink, "SELECT ext_plpgsql()", true],
    ["schema-qualified call", writeLink, "SELECT public.atk_wrap()", true],
    ["a proven read-only SQL function", writeLink, "SELECT pure_count()", false],
    ["an extension's C function", writeLink, "SELECT ext_digest()", false],
    ["built-ins only", writeLink, "SELECT lower(name) FROM genre", false],
    ["a cast whose function is proven", writeLink, "SELECT 1::fine", false],
    ["F5: an explicit cast from a type the analyzer cannot tell still runs any user cast to it", writeLink, "SELECT (1.5)::mood", true],
    ["F5: a cast from an expression of unknown type to text may be the user cast", writeLink, "SELECT (SELECT name FROM genre LIMIT 1)::text", true],
    ["F5: a user cast to text, explicitly from its source type", writeLink, "SELECT (NULL::public.atk_ct)::text", true],
    ["F5: a plpgsql function that merely claims forType", writeLink, "SELECT fake_for_type()", true],
    ["F5 (t29): gen_random_uuid()::text is a cast from uuid, not the user cast from atk_ct", writeLink, "INSERT INTO genre (genre_id, name) VALUES (9101, gen_random_uuid()::text)", false],
    ["F5 (t29): now()::text, random()::text", writeLink, "UPDATE genre SET name = now()::text || random()::text WHERE genre_id = 9101", false],
    ["F5: a string literal is read by the type's input function, no cast", writeLink, "SELECT 'x'::mood", false],
    ["F5: a cast from bool is not the cast from int", writeLink, "SELECT true::mood", false],
    ["F5: a cast to a built-in type from a built-in type", writeLink, "SELECT 1::int8::text", false],
    ["F5: range and multirange constructors PostgreSQL created", writeLink, "SELECT atk_rng(1, 5), atk_multirng(atk_rng(1, 5))", false],
    ["F5: a multirange literal", writeLink, "SELECT '{[1,5)}'::atk_multirng", false],
    ["a write whose table's hooks are proven read-only", writeLink, "INSERT INTO media_type (media_type_id, name) VALUES (99, 'x')", false],
  ];
  for (const [name, s, sql, needs] of cases)
    it(`${name}: ${sql}`, () => {
      const verdict = checker.check(sql, s, catalog);
      expect(verdict.allowed, verdict.reason).toBe(true);
      const requirement = approvalFor(verdict, s);
      if (!needs) return expect(requirement).toBeNull();
      expect(requirement).toMatchObject({ kind: "approval" });
      expect(requirement!.tables).toEqual(["public.invoice"]);
      expect(requirement!.reason).toMatch(/runs code/);
      expect(verdict.writes.find((w) => w.opaque)?.code?.length).toBeGreaterThan(0);
    });

  it("links without approval rules: the same calls need nothing", () => {
    const plain = scope({ access: "write" });
    for (const sql of ["SELECT atk_wrap()", "SELECT sql_wrap()", "INSERT INTO genre (genre_id, name) VALUES (9001, atk_wrap()::text)"]) {
      const verdict = checker.check(sql, plain, catalog);
      expect(verdict.allowed, verdict.reason).toBe(true);
      expect(approvalFor(verdict, plain)).toBeNull();
    }
  });
});

describe("approval in the scope document and its words", () => {
  it("refuses approval on a table that is read-only or hidden, at the table's path", () => {
    const parsed = parseScope({ access: "read", tables: { invoice: { approval: "writes" }, genre: { access: "none", approval: "confirm" }, album: { access: "write", approval: "destructive" } } });
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.errors.map((e) => e.path).sort()).toEqual(['tables.genre.approval', 'tables.invoice.approval']);
    expect(parsed.errors.find((e) => e.path === "tables.invoice.approval")!.message).toMatch(/access read/);
    expect(parseScope({ access: "write", tables: { invoice: { approval: "sometimes" } } })).toMatchObject({ ok: false, errors: [{ path: "tables.invoice.approval" }] });
  });

  it("a refused statement needs no decision", () => {
    const s = SCOPES.tableWrites;
    const v = createPolicyChecker().check("DELETE FROM employee", s, chinookCatalog);
    expect(v.allowed).toBe(false);
    expect(approvalFor(v, s)).toBeNull();
  });

  it("describeScope and summarizeScope name the rules, the limits and what a caller does next", () => {
    const s = scope({
      access: "write",
      approval: "confirm",
      approvalOptions: { expiresAfterMinutes: 15 },
      tables: { invoice: { approval: "writes" }, employee: { access: "none" } },
      limits: { maxEstimatedCost: 50000, maxEstimatedRows: 2000 },
    });
    const text = describeScope(s, chinookCatalog);
    expect(text).toMatch(/Approval: every write needs the caller's confirmation .*\(approval: confirm\)/);
    expect(text).toMatch(/Approval on public\.invoice: every write needs a lead's approval \(approval: writes\)/);
    expect(text).toMatch(/requestId/);
    expect(text).toMatch(/within 15 minutes/);
    expect(text).toMatch(/planner estimate exceeds cost 50000 or 2000 rows is refused/);
    expect(summarizeScope(s)).toBe("write by default; approval: confirm; approval writes on public.invoice; reads up to an estimated cost 50000 or 2000 rows");
    expect(describeScope(SCOPES.none)).not.toMatch(/[Aa]pproval|planner estimate/);
    expect(summarizeScope(SCOPES.none)).toBe("admin by default");
  });
});
