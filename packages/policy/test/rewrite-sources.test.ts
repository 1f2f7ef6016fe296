import { describe, expect, it } from "vitest";
import { createPolicyChecker, parseScope, type Scope, type Verdict } from "../src/index.js";
import { parseSql, type PgNode } from "../src/parse/parse.js";
import { walk } from "../src/rewrite/ast.js";
import { CORPUS } from "./corpus.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

// The rewrite stage on the fixture catalog: the exact text it produces for the shapes agents write,
// and a property over the whole corpus — every reference to a governed table ends up inside a fenced
// source subquery, whatever the statement looked like.

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

// Small tables keep the expected texts readable: artist (artist_id, name), genre (genre_id, name).
const SMALL = scope({
  access: "read",
  tables: {
    artist: { rowFilter: "artist_id < {{member.attr.max_artist}}" },
    genre: { maskedColumns: { name: "partial" } },
    media_type: { maskedColumns: { media_type_id: "redact" } },
  },
});
const GOVERNED = scope({
  access: "read",
  tables: {
    customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email", phone: "last4" } },
    invoice: { rowFilter: "billing_country = {{member.attr.country}}" },
  },
});
const checker = createPolicyChecker();
const check = (sql: string, s: Scope = SMALL): Verdict => checker.check(sql, s, chinookCatalog);
const rewritten = (sql: string, s: Scope = SMALL): string => {
  const v = check(sql, s);
  if (!v.allowed) throw new Error(v.reason);
  return v.rewrite?.sql ?? "(unchanged)";
};

// A source projects the columns the statement reads (all of them for *, whole-row, NATURAL).
const artist = (cols: string) =>
  `( SELECT ${cols.split(",").filter(Boolean).map((c) => `_pc_src.${c}`).join(", ")} FROM public.artist AS _pc_src WHERE CAST($1 AS int) IS NOT NULL AND _pc_src.artist_id < CAST($1 AS int) OFFSET 0 )`;
const ARTIST_INT = artist("artist_id,name");
const GENRE_NAME =
  "CASE WHEN _pc_src.name IS NULL THEN NULL WHEN pg_catalog.length(_pc_src.name::text) OPERATOR(pg_catalog.>) 4 THEN pg_catalog.textcat(pg_catalog.textcat(pg_catalog.left(_pc_src.name::text, 1), '***'), pg_catalog.right(_pc_src.name::text, 1)) ELSE '***' END AS name";
const GENRE = `( SELECT _pc_src.genre_id, ${GENRE_NAME} FROM public.genre AS _pc_src OFFSET 0 )`;

describe("the rewritten text", () => {
  it("a placeholder compared with a column takes the column's type (without its modifier), else text", () => {
    expect(rewritten("SELECT name FROM artist")).toBe(`SELECT name FROM ${artist("name")} AS artist`);
    const s = scope({ access: "read", tables: { artist: { rowFilter: "name ILIKE {{member.attr.prefix}} || '%' AND name <> {{member.email}}" } } });
    expect(rewritten("SELECT 1 FROM artist", s)).toBe(
      "SELECT 1 FROM ( SELECT  FROM public.artist AS _pc_src WHERE CAST($1 AS text) IS NOT NULL AND CAST($2 AS varchar) IS NOT NULL AND _pc_src.name ILIKE CAST($1 AS text) || '%' AND _pc_src.name <> CAST($2 AS varchar) OFFSET 0 ) AS artist",
    );
  });

  it("joins, aliases, ONLY and schema-qualified names", () => {
    expect(rewritten("SELECT a.name, g.name FROM artist a JOIN genre g ON g.genre_id = a.artist_id")).toBe(
      `SELECT a.name, g.name FROM ${ARTIST_INT} AS a JOIN ${GENRE} AS g ON g.genre_id = a.artist_id`,
    );
    // Nothing read: no column projected (count(*) counts the filtered rows).
    expect(rewritten("SELECT count(*) FROM artist")).toBe(`SELECT count(*) FROM ${artist("")} AS artist`);
    expect(rewritten("SELECT name FROM ONLY public.artist")).toBe(`SELECT name FROM ${artist("name").replace("FROM public.artist", "FROM ONLY public.artist")} AS artist`);
    // schema.table.column cannot name a subquery: it is requalified to the alias.
    expect(rewritten("SELECT public.artist.name FROM public.artist")).toBe(`SELECT artist.name FROM ${artist("name")} AS artist`);
    // USING compares a column no reference names: it is projected too; NATURAL projects everything.
    expect(rewritten("SELECT count(*) FROM album JOIN artist USING (artist_id)")).toBe(`SELECT count(*) FROM album JOIN ${artist("artist_id")} AS artist USING (artist_id)`);
    expect(rewritten("SELECT count(*) FROM album NATURAL JOIN artist")).toBe(`SELECT count(*) FROM album NATURAL JOIN ${ARTIST_INT} AS artist`);
  });

  it("column alias lists are applied inside the source (by position), the outer alias keeps the name", () => {
    expect(rewritten("SELECT x.id, x.label FROM genre AS x(id, label)")).toBe(`SELECT x.id, x.label FROM ${GENRE.replace("_pc_src.genre_id,", "_pc_src.genre_id AS id,").replace("END AS name", "END AS label")} AS x`);
    expect(rewritten("SELECT x.label FROM genre AS x(id, label)")).toBe(`SELECT x.label FROM ( SELECT ${GENRE_NAME.replace("END AS name", "END AS label")} FROM public.genre AS _pc_src OFFSET 0 ) AS x`);
  });

  it("CTE bodies, UNION arms, sublinks, LATERAL and EXPLAIN are rewritten; a CTE named like the table is not", () => {
    expect(rewritten("WITH a AS (SELECT * FROM artist) SELECT count(*) FROM a")).toBe(`WITH a AS (SELECT * FROM ${ARTIST_INT} AS artist) SELECT count(*) FROM a`);
    expect(rewritten("WITH artist AS (SELECT 1 AS artist_id) SELECT * FROM artist")).toBe("(unchanged)");
    expect(rewritten("SELECT artist_id FROM artist UNION SELECT genre_id FROM genre")).toBe(
      `SELECT artist_id FROM ${artist("artist_id")} AS artist UNION SELECT genre_id FROM ( SELECT _pc_src.genre_id FROM public.genre AS _pc_src OFFSET 0 ) AS genre`,
    );
    expect(rewritten("SELECT title FROM album WHERE artist_id IN (SELECT artist_id FROM artist)")).toBe(`SELECT title FROM album WHERE artist_id IN (SELECT artist_id FROM ${artist("artist_id")} AS artist)`);
    expect(rewritten("SELECT * FROM album al, LATERAL (SELECT name FROM artist ar WHERE ar.artist_id = al.artist_id) x")).toBe(
      `SELECT * FROM album AS al, LATERAL ( SELECT name FROM ${ARTIST_INT} AS ar WHERE ar.artist_id = al.artist_id ) AS x`,
    );
    expect(rewritten("EXPLAIN SELECT * FROM artist WHERE artist_id = 1")).toBe(`EXPLAIN SELECT * FROM ${ARTIST_INT.replace(" OFFSET 0", " AND _pc_src.artist_id = 1 OFFSET 0")} AS artist WHERE artist_id = 1`);
  });

  it("*, t.* and whole-row references read the source's columns (the masked values)", () => {
    expect(rewritten("SELECT * FROM genre")).toBe(`SELECT * FROM ${GENRE} AS genre`);
    expect(rewritten("SELECT g.*, row_to_json(g) FROM genre g")).toBe(`SELECT g.*, row_to_json(g) FROM ${GENRE} AS g`);
  });

  it("redact of a non-text column is NULL of the column's type", () => {
    expect(rewritten("SELECT media_type_id, name FROM media_type")).toBe(
      "SELECT media_type_id, name FROM ( SELECT NULL::int AS media_type_id, _pc_src.name FROM public.media_type AS _pc_src OFFSET 0 ) AS media_type",
    );
  });

  it("the caller's $1, $2 keep their numbers; ours start at $3, one per (source, cast)", () => {
    const v = check("SELECT a.name FROM artist a JOIN artist b ON b.artist_id = $2 WHERE a.artist_id = $1");
    expect(v.rewrite).toMatchObject({ firstParam: 3, params: [{ kind: "member.attr", name: "max_artist" }], attributes: ["max_artist"] });
    expect(v.rewrite!.sql).toBe(
      `SELECT a.name FROM ${ARTIST_INT.replaceAll("$1", "$3").replace(" OFFSET 0", " AND _pc_src.artist_id = $1 OFFSET 0")} AS a JOIN ${ARTIST_INT.replaceAll("$1", "$3")} AS b ON b.artist_id = $2 WHERE a.artist_id = $1`,
    );
    // (Columns are gathered per table, not per reference: a and b both project what either reads.)
    expect(v.rewrite!.notes).toEqual(["public.artist: row filter applied"]);
  });

  it("a multi-statement text: one numbering, unchanged statements kept as written", () => {
    const v = check("SELECT  1 ;SELECT name FROM artist WHERE artist_id = $1");
    expect(v.rewrite!.sql).toBe(`SELECT  1;\nSELECT name FROM ${ARTIST_INT.replaceAll("$1", "$2").replace(" OFFSET 0", " AND _pc_src.artist_id = $1 OFFSET 0")} AS artist WHERE artist_id = $1`);
  });

  it("an unchanged statement ending in a line comment does not swallow the joining semicolon", () => {
    const v = check("SELECT 1 -- one\n; SELECT name FROM artist");
    expect(v.rewrite!.sql).toBe(`SELECT 1 -- one\n;\nSELECT name FROM ${artist("name")} AS artist`);
    const back = parseSql(v.rewrite!.sql);
    expect(back.ok && back.statements.length).toBe(2);
  });

  it("views over a governed table are expanded and rewritten; a materialized view is refused", () => {
    const sql = rewritten("SELECT * FROM customer_names", GOVERNED);
    expect(sql).toMatch(/^SELECT \* FROM \( SELECT customer\.customer_id, customer\.first_name, customer\.last_name, customer\.country FROM \( SELECT _pc_src\.customer_id, .* FROM public\.customer AS _pc_src WHERE .* OFFSET 0 \) AS customer \) AS customer_names\(customer_id, first_name, last_name, country\)$/);
    expect(rewritten("SELECT n.a FROM customer_names AS n(a)", GOVERNED)).toMatch(/\) AS n\(a, first_name, last_name, country\)$/);
    // nested_contacts reads customer_contacts, which reads customer: both expanded.
    expect(rewritten("SELECT email FROM nested_contacts", GOVERNED)).toMatch(/FROM \( SELECT customer_contacts\.customer_id, customer_contacts\.email FROM \( SELECT customer\.customer_id, .* \) AS customer_contacts\(customer_id, first_name, email, phone\) \) AS nested_contacts\(customer_id, email\)$/);
    expect(check("SELECT * FROM invoice_totals", GOVERNED)).toMatchObject({ allowed: false, ruleId: "row_filter_view", object: "public.invoice_totals" });
  });
});

describe("leakproof comparisons are copied below the fence (index use), nothing else", () => {
  const pushed = (sql: string, s: Scope = GOVERNED): string => {
    const inner = /FROM public\.\w+ AS _pc_src WHERE (.*?) OFFSET 0/.exec(rewritten(sql, s))?.[1] ?? "";
    return inner.replace(/^CAST\(\$\d AS \w+\) IS NOT NULL AND _pc_src\.\w+ = CAST\(\$\d AS \w+\)( AND )?/, "");
  };

  it("copies column-vs-constant comparisons on integer, text and timestamp columns, from WHERE conjuncts", () => {
    expect(pushed("SELECT first_name FROM customer WHERE customer_id = 16")).toBe("_pc_src.customer_id = 16");
    expect(pushed("SELECT first_name FROM customer c WHERE 16 <= c.customer_id AND c.country = 'Brazil' AND c.first_name <> $1")).toBe(
      "16 <= _pc_src.customer_id AND _pc_src.country = 'Brazil' AND _pc_src.first_name <> $1",
    );
    expect(pushed("SELECT invoice_id FROM invoice WHERE invoice_date >= '2021-01-01' AND customer_id = '5'")).toBe("_pc_src.invoice_date >= '2021-01-01' AND _pc_src.customer_id = '5'");
    // In a join, a qualified conjunct goes to its own source only.
    expect(rewritten("SELECT c.first_name FROM customer c JOIN invoice i ON i.customer_id = c.customer_id WHERE i.invoice_id = 7 AND c.customer_id = 3", GOVERNED)).toMatch(
      /_pc_src\.customer_id = 3 OFFSET 0 \) AS c JOIN .*_pc_src\.invoice_id = 7 OFFSET 0 \) AS i ON/,
    );
  });

  it("never copies a comparison that could raise or reveal: numeric, expressions, masked columns, OR, functions, other operators", () => {
    for (const sql of [
      "SELECT invoice_id FROM invoice WHERE total = 1.98",
      "SELECT invoice_id FROM invoice WHERE total > 1",
      "SELECT customer_id FROM customer WHERE 1 / (customer_id - 17) = 1",
      "SELECT customer_id FROM customer WHERE email = 'luisg@embraer.com.br'",
      "SELECT customer_id FROM customer WHERE phone < 'x'",
      "SELECT customer_id FROM customer WHERE customer_id = 1 OR customer_id = 2",
      "SELECT customer_id FROM customer WHERE lower(country) = 'brazil'",
      "SELECT customer_id FROM customer WHERE country LIKE 'B%'",
      "SELECT customer_id FROM customer WHERE customer_id = 2.5",
      "SELECT customer_id FROM customer WHERE customer_id OPERATOR(public.===) 1",
      "SELECT customer_id FROM customer WHERE customer_id = NULL",
      "SELECT customer_id FROM customer WHERE customer_id = '1'::int",
      "SELECT c.customer_id FROM customer c, invoice i WHERE customer_id = 3 AND i.invoice_id = c.customer_id",
      "SELECT x.a FROM customer AS x(a) WHERE x.a = 3",
    ]) {
      const v = check(sql, GOVERNED);
      if (!v.allowed) continue;
      expect(v.rewrite!.sql.match(/_pc_src\.\w+ (=|<|>|<=|>=|<>) (?!CAST\(\$)/g) ?? [], sql).toEqual([]);
    }
  });
});

describe("what stays untouched and what is refused", () => {
  it("costs nothing when the scope governs nothing or the statement reads no governed table", () => {
    expect(check("SELECT * FROM artist", scope({ access: "read" })).rewrite).toBeUndefined();
    expect(check("SELECT * FROM album JOIN track USING (album_id)").rewrite).toBeUndefined();
  });

  it("a parent over a governed child is refused without ONLY and read as is with it", () => {
    const s = scope({ access: "read", tables: { secret_note: { rowFilter: "NOT classified" } } });
    expect(check("SELECT * FROM note", s)).toMatchObject({ allowed: false, ruleId: "row_filter_view" });
    expect(check("SELECT * FROM ONLY note", s)).toMatchObject({ allowed: true });
    expect(check("SELECT * FROM ONLY note", s).rewrite).toBeUndefined();
  });

  it("a filter that no longer fits the catalog refuses rewrite_failed instead of resolving outward", () => {
    const s = scope({ access: "read", tables: { artist: { rowFilter: "artist_id = title_id" } } });
    expect(check("SELECT a.name FROM album al JOIN artist a USING (artist_id)", s)).toMatchObject({ allowed: false, ruleId: "rewrite_failed" });
    expect(check("SELECT a.name FROM album al JOIN artist a USING (artist_id)", s).reason).toMatch(/column "title_id" does not exist in public\.artist/);
  });

  it("a user function whose body reads a governed table is unverified", () => {
    expect(check("SELECT customer_email(1)", GOVERNED)).toMatchObject({ allowed: false, ruleId: "function_unverified" });
    expect(check("SELECT track_count(1)", GOVERNED)).toMatchObject({ allowed: true });
  });

  it("the verdict and its rewrite are frozen and cached", () => {
    const a = check("SELECT name FROM artist WHERE artist_id = 7");
    expect(check("SELECT name FROM artist WHERE artist_id = 7")).toBe(a);
    expect(Object.isFrozen(a.rewrite) && Object.isFrozen(a.rewrite!.params)).toBe(true);
  });
});

/** Names WITH queries define anywhere in the tree (a reference to one is not a table reference). */
function cteNames(tree: unknown): Set<string> {
  const names = new Set<string>();
  walk(tree, (n) => {
    const cte = n.CommonTableExpr as PgNode | undefined;
    if (cte) names.add(cte.ctename as string);
  });
  return names;
}

/** Every RangeVar naming one of `names` (and not a CTE), with the SelectStmt holding it in its FROM list. */
function governedReferences(tree: unknown, names: Set<string>): { rv: PgNode; select: PgNode | undefined }[] {
  const out: { rv: PgNode; select: PgNode | undefined }[] = [];
  const holders = new Map<PgNode, PgNode>();
  const ctes = cteNames(tree);
  walk(tree, (n) => {
    const sel = n.SelectStmt as PgNode | undefined;
    if (sel) for (const item of (sel.fromClause as PgNode[] | undefined) ?? []) if (item.RangeVar) holders.set(item.RangeVar as PgNode, sel);
  });
  walk(tree, (n) => {
    const rv = n.RangeVar as PgNode | undefined;
    if (!rv || !names.has(rv.relname as string)) return;
    if (rv.schemaname === undefined && ctes.has(rv.relname as string)) return;
    if (rv.schemaname !== undefined && rv.schemaname !== "public") return;
    out.push({ rv, select: holders.get(rv) });
  });
  return out;
}

describe("over the whole corpus", () => {
  const names = new Set(["customer", "invoice"]);

  it("every reference to a governed table reads it only through a fenced, filtered source", () => {
    let rewrittenCount = 0;
    for (const sql of new Set(CORPUS.map((c) => c.sql))) {
      const v = check(sql, GOVERNED);
      if (!v.allowed || !v.rewrite) continue;
      rewrittenCount++;
      const parsed = parseSql(v.rewrite.sql);
      expect(parsed.ok, sql).toBe(true);
      if (!parsed.ok) continue;
      for (const { rv, select } of governedReferences(parsed.statements, names)) {
        // A data-change target is not a source (slice D filters those); every read must be ours.
        if (!select) continue;
        expect((rv.alias as PgNode | undefined)?.aliasname, `${sql}\n=> ${v.rewrite.sql}`).toBe("_pc_src");
        expect(select.limitOffset, sql).toBeDefined();
        expect(JSON.stringify(select.whereClause ?? null), sql).toMatch(/support_rep_id|billing_country/);
      }
    }
    expect(rewrittenCount).toBeGreaterThan(50);
  });

  it("no allowed read that names a governed table runs unrewritten", () => {
    let governedReads = 0;
    for (const sql of new Set(CORPUS.map((c) => c.sql))) {
      const v = check(sql, GOVERNED);
      const parsed = parseSql(sql);
      if (!v.allowed || !parsed.ok) continue;
      if (governedReferences(parsed.statements, names).some((r) => r.select)) {
        governedReads++;
        expect(v.rewrite, sql).toBeDefined();
      }
    }
    expect(governedReads).toBeGreaterThan(50);
  });
});
