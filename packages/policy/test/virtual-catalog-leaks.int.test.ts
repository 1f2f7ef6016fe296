import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChinookDatabase, type TestDatabase } from "@portcullis/db/testing";
import { bindRewriteParams, createPolicyChecker, loadCatalog, parseScope, searchPathFor, type Catalog, type Scope } from "../src/index.js";

/*
 * The attacker review's catalog findings (issue 14), each as the attack it was, judged by what
 * PostgreSQL answers through the checker: statistics of materialized views over governed tables,
 * name-typed catalog columns resolving to hidden objects, hidden columns named by number or name,
 * expression indexes over hidden columns, views running SQL text, currtid2's page probe.
 */

const SETUP = `
COMMENT ON COLUMN customer.email IS 'secret email column comment';
COMMENT ON TABLE employee IS 'secret employee comment';
CREATE SCHEMA sales;
CREATE TABLE sales.employee (id int);
CREATE VIEW employee_directory AS SELECT employee_id, email FROM employee;
CREATE INDEX cust_lower_email ON customer (lower(email));
ALTER TABLE customer ADD COLUMN email_lc text GENERATED ALWAYS AS (lower(email)) STORED;
CREATE STATISTICS cust_email_xst ON (lower(email)) FROM customer;
CREATE MATERIALIZED VIEW cust_emails AS SELECT customer_id, email, company FROM customer;
CREATE MATERIALIZED VIEW invoice_totals AS SELECT billing_country, sum(total) AS total FROM invoice GROUP BY 1;
CREATE VIEW v_xml AS SELECT query_to_xml('select email, support_rep_id from customer', true, false, '') AS x;
CREATE VIEW v_tsstat AS SELECT * FROM ts_stat('select to_tsvector(''simple'', email) from customer');
CREATE VIEW v_over_xml AS SELECT x FROM v_xml;
CREATE FUNCTION xml_emails() RETURNS xml LANGUAGE sql STABLE AS $$ SELECT query_to_xml('select email from customer', true, false, '') $$;
CREATE VIEW v_fn_xml AS SELECT xml_emails() AS x;
CREATE MATERIALIZED VIEW mv_xml AS SELECT query_to_xml('select email from customer', true, false, '') AS x;
ANALYZE;
`;

const GOV = {
  access: "read",
  tables: {
    customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email", company: "hash" } },
    invoice: { rowFilter: "billing_country = {{member.attr.country}}" },
    employee: { access: "none" },
  },
};
const READ = {
  access: "read",
  schemas: ["public", "sales"],
  tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email"] } },
};
const ATTRS = { rep_id: "3", country: "USA" };

let db: TestDatabase;
let client: pg.Client;
let catalog: Catalog;
let clearEmails: string[];
const checker = createPolicyChecker();

function scopeOf(raw: unknown): Scope {
  const parsed = parseScope(raw);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

type Outcome = { refused: string; ruleId: string | undefined } | { rows: Record<string, unknown>[] };

async function run(raw: unknown, sql: string): Promise<Outcome> {
  const scope = scopeOf(raw);
  const verdict = checker.check(sql, scope, catalog);
  if (!verdict.allowed) return { refused: verdict.reason ?? "", ruleId: verdict.ruleId };
  const values = verdict.rewrite
    ? bindRewriteParams(verdict.rewrite.params, { memberId: "m", memberEmail: "m@x.org", keyId: "k", linkId: "l", teamId: "t", attributes: ATTRS, maskKey: Buffer.alloc(32, 7) })
    : [];
  await client.query("BEGIN READ ONLY");
  try {
    await client.query(`SET LOCAL search_path = ${searchPathFor(scope)}`);
    return { rows: (await client.query({ text: verdict.rewrite?.sql ?? sql, values })).rows };
  } finally {
    await client.query("ROLLBACK");
  }
}

/** No clear email, no hidden comment, no hidden column's name in anything the link got back. */
function leaks(out: Outcome): string[] {
  if (!("rows" in out)) return [];
  const text = JSON.stringify(out.rows);
  return [...clearEmails.filter((e) => text.includes(e) || text.includes(e.toLowerCase())), ...["secret email column comment", "secret employee comment", "lower((email)", "lower(email)"].filter((m) => text.includes(m))];
}

beforeAll(async () => {
  db = await createChinookDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(SETUP);
  clearEmails = (await client.query<{ email: string }>("SELECT email FROM customer")).rows.map((r) => r.email);
  catalog = await loadCatalog(client);
}, 120_000);

afterAll(async () => {
  await client?.end();
  await db?.drop();
});

describe("finding 2: statistics of materialized views over governed tables", () => {
  it("a materialized view over a masked column has no pg_stats rows", async () => {
    // Before: histogram_bounds listed every clear email.
    const out = await run(GOV, "SELECT attname, histogram_bounds::text, most_common_vals::text FROM pg_stats WHERE tablename = 'cust_emails'");
    expect(out).toEqual({ rows: [] });
    // The copy still has them: the statistics exist, the link just does not get them.
    expect((await client.query("SELECT 1 FROM pg_stats WHERE tablename = 'cust_emails'")).rowCount).toBeGreaterThan(0);
  });

  it("a materialized view over a filtered table: sizes and counters unknown", async () => {
    // Before: reltuples 24, n_live_tup 24 (every country's row).
    expect(await run(GOV, "SELECT reltuples, relpages FROM pg_class WHERE relname = 'invoice_totals'")).toEqual({ rows: [{ reltuples: -1, relpages: 0 }] });
    expect(await run(GOV, "SELECT n_live_tup, n_tup_ins FROM pg_stat_user_tables WHERE relname = 'invoice_totals'")).toEqual({ rows: [{ n_live_tup: null, n_tup_ins: null }] });
  });
});

describe("finding 3: name-typed catalog columns resolve names", () => {
  it("c.relname::regclass is refused (it reached the hidden public.employee), c.oid works", async () => {
    // Before: [{ relname: 'employee', obj_description: 'secret employee comment' }].
    const out = await run(READ, "SELECT c.relname, obj_description(c.relname::regclass) FROM pg_class c WHERE c.relname = 'employee'");
    expect(out).toMatchObject({ ruleId: "catalog_unanswerable" });
    expect(await run(READ, "SELECT c.relname, obj_description(c.oid) AS d FROM pg_class c WHERE c.relname = 'employee'")).toEqual({ rows: [{ relname: "employee", d: null }] });
  });

  it("pg_get_viewdef(viewname::regclass) and pg_get_serial_sequence(attname, …) are refused", async () => {
    for (const sql of [
      "SELECT pg_get_viewdef(v.viewname::regclass) FROM pg_views v WHERE v.schemaname = 'public'",
      "SELECT pg_get_serial_sequence(a.attname, 'id') FROM pg_attribute a WHERE a.attname = 'employee'",
      "SELECT has_table_privilege(c.relname, 'select') FROM pg_class c WHERE c.relname = 'employee'",
    ]) {
      const out = await run(READ, sql);
      expect(out, sql).toMatchObject({ ruleId: "catalog_unanswerable" });
      expect(leaks(out)).toEqual([]);
    }
  });
});

describe("finding 4: hidden columns named by number or name", () => {
  it("col_description and has_column_privilege of a hidden column are refused as a missing one is", async () => {
    const email = catalog.relations["public.customer"]!.attnums![catalog.relations["public.customer"]!.columns.findIndex((c) => c.name === "email")]!;
    // Before: 'secret email column comment' and true.
    expect(await run(READ, `SELECT col_description('customer'::regclass, ${email})`)).toMatchObject({ ruleId: "catalog_unanswerable" });
    expect(await run(READ, "SELECT has_column_privilege('customer', 'email', 'select')")).toMatchObject({ ruleId: "catalog_unanswerable" });
    const missing = await run(READ, "SELECT has_column_privilege('customer', 'no_such_column', 'select')");
    const hidden = await run(READ, "SELECT has_column_privilege('customer', 'email', 'select')");
    expect(missing).toEqual(hidden);
  });

  it("visible columns still answer; psql's col_description(a.attrelid, a.attnum) never prints the hidden comment", async () => {
    expect(await run(READ, "SELECT has_column_privilege('customer', 'first_name', 'select') AS ok")).toEqual({ rows: [{ ok: true }] });
    const out = await run(READ, "SELECT a.attname, col_description(a.attrelid, a.attnum) FROM pg_attribute a WHERE a.attrelid = 'customer'::regclass AND a.attnum > 0");
    expect("rows" in out && out.rows.length).toBeGreaterThan(5);
    expect(leaks(out)).toEqual([]);
    // attrelid of one row with attnum of another names any column: refused.
    const mixed = await run(READ, "SELECT col_description(c.oid, a.attnum) FROM pg_class c, pg_attribute a WHERE c.relname = 'customer'");
    expect(mixed).toMatchObject({ ruleId: "catalog_unanswerable" });
  });
});

describe("finding 5: what hangs on a hidden column through an expression", () => {
  it("an expression index and an expression statistics object over a hidden column are absent", async () => {
    for (const sql of [
      "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'customer'",
      "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = 'customer'::regclass",
      "SELECT pg_get_expr(i.indexprs, i.indrelid) FROM pg_index i WHERE i.indexprs IS NOT NULL",
      "SELECT c.relname FROM pg_class c WHERE c.relname = 'cust_lower_email'",
      "SELECT stxname FROM pg_statistic_ext",
    ]) {
      const out = await run(READ, sql);
      expect("rows" in out, `${sql}: ${JSON.stringify(out)}`).toBe(true);
      expect(leaks(out), sql).toEqual([]);
      expect(JSON.stringify(out), sql).not.toMatch(/cust_lower_email|cust_email_xst/);
    }
  });
});

describe("beside finding 5: a generated column computed from a hidden or masked column", () => {
  it("is hidden with it (reading it gave every email, lower-cased)", async () => {
    for (const scope of [READ, GOV]) {
      expect(await run(scope, "SELECT email_lc FROM customer")).toMatchObject({ ruleId: "undefined_column" });
      const star = await run(scope, "SELECT * FROM customer");
      expect("rows" in star && Object.keys(star.rows[0]!)).not.toContain("email_lc");
      expect(leaks(star)).toEqual([]);
      const attrs = await run(scope, "SELECT attname FROM pg_attribute WHERE attrelid = 'customer'::regclass AND attname = 'email_lc'");
      expect(attrs).toEqual({ rows: [] });
    }
  });
});

describe("finding 6: views that run SQL text", () => {
  it("views and materialized views calling query_to_xml / ts_stat are absent on a governing link", async () => {
    for (const name of ["v_xml", "v_tsstat", "v_over_xml", "mv_xml", "v_fn_xml"]) {
      // Before (v_xml): every clear email, unfiltered.
      const out = await run(GOV, `SELECT * FROM ${name}`);
      expect(out, name).toMatchObject({ refused: expect.stringContaining("does not exist") });
      const listed = await run(GOV, `SELECT relname FROM pg_class WHERE relname = '${name}'`);
      expect(listed, name).toEqual({ rows: [] });
    }
  });

  it("a SQL function whose body calls query_to_xml is not verified: calling it is refused", async () => {
    const out = await run(GOV, "SELECT xml_emails()");
    expect(out).toMatchObject({ refused: expect.any(String) });
    expect(leaks(out)).toEqual([]);
  });

  it("on a link that hides nothing they stay (nothing to hide from it)", async () => {
    const out = await run({ access: "read" }, "SELECT count(*)::int AS n FROM v_xml");
    expect(out).toEqual({ rows: [{ n: 1 }] });
  });
});

describe("finding 7: currtid2", () => {
  it("is refused on a governing link (it answered whether page 6 of the filtered invoice exists)", async () => {
    expect(await run(GOV, "SELECT currtid2('invoice', '(6,1)')")).toMatchObject({ ruleId: "catalog_unanswerable" });
  });
});

describe("second review: object addresses and identities in later arguments", () => {
  const oidOf = (key: string) => catalog.relations[key]!.oid;
  const attnumOf = (key: string, column: string) => catalog.relations[key]!.attnums![catalog.relations[key]!.columns.findIndex((c) => c.name === column)]!;

  it("pg_describe_object / pg_identify_object* of a literal objid or subid are refused (they named the hidden table and column)", async () => {
    const employee = oidOf("public.employee");
    const customer = oidOf("public.customer");
    const email = attnumOf("public.customer", "email");
    for (const sql of [
      `SELECT pg_describe_object('pg_class'::regclass, ${employee}, 0)`,
      `SELECT pg_describe_object('pg_class'::regclass, ${customer}, ${email})`,
      `SELECT (pg_identify_object('pg_class'::regclass, ${employee}, 0)).identity`,
      `SELECT pg_identify_object_as_address('pg_class'::regclass, ${customer}, ${email})`,
    ]) {
      const out = await run(READ, sql);
      expect(out, sql).toMatchObject({ ruleId: "catalog_unanswerable" });
    }
    // psql's and pg_depend's own form, over rows the virtual catalog answers, still works and names nothing hidden.
    const out = await run(READ, "SELECT pg_describe_object(classid, objid, objsubid) AS d FROM pg_depend WHERE refobjid = 'customer'::regclass");
    expect("rows" in out).toBe(true);
    expect(JSON.stringify(out)).not.toMatch(/employee|column email/);
  });

  it("pg_get_object_address resolves names to addresses (an existence oracle): refused", async () => {
    for (const sql of ["SELECT pg_get_object_address('table', '{employee}', '{}')", "SELECT pg_get_object_address('table column', CAST('{customer,email}' AS text[]), '{}')"]) {
      expect(await run(READ, sql), sql).toMatchObject({ ruleId: "catalog_unanswerable" });
    }
  });

  it("format_type of a hidden table's row type, and satisfies_hash_partition of its oid, are refused", async () => {
    const employee = oidOf("public.employee");
    const rowType = (await client.query<{ t: number }>(`SELECT reltype::int8 AS t FROM pg_class WHERE oid = ${employee}`)).rows[0]!.t;
    expect(await run(READ, `SELECT format_type(${rowType}, NULL)`)).toMatchObject({ ruleId: "catalog_unanswerable" });
    expect(await run(READ, "SELECT format_type(t, NULL) FROM generate_series(16384, 40000) t WHERE format_type(t, NULL) <> '???'")).toMatchObject({ ruleId: "catalog_unanswerable" });
    expect(await run(READ, `SELECT satisfies_hash_partition(${employee}, 1, 0, 1)`)).toMatchObject({ ruleId: "catalog_unanswerable" });
    // The form every client uses still answers.
    const out = await run(READ, "SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS t FROM pg_attribute a WHERE a.attrelid = 'customer'::regclass AND a.attnum > 0 AND NOT a.attisdropped");
    expect("rows" in out && out.rows.some((r) => r.attname === "city")).toBe(true);
  });

  it("pg_get_expr must decode a node tree against its own row's relation", async () => {
    const employee = oidOf("public.employee");
    for (const sql of [
      `SELECT pg_get_expr(i.indexprs, ${employee}) FROM pg_index i WHERE i.indexprs IS NOT NULL`,
      "SELECT pg_get_expr(i.indexprs, 'customer'::regclass) FROM pg_index i WHERE i.indexprs IS NOT NULL",
      "SELECT pg_get_expr(d.adbin, c.oid) FROM pg_attrdef d, pg_class c WHERE c.relname = 'customer'",
    ]) {
      const out = await run(READ, sql);
      expect(out, sql).toMatchObject({ ruleId: "catalog_unanswerable" });
    }
    const out = await run(READ, "SELECT pg_get_expr(d.adbin, d.adrelid) AS e FROM pg_attrdef d");
    expect("rows" in out).toBe(true);
    expect(leaks(out)).toEqual([]);
  });

  it("pg_filenode_relation and pg_input_is_valid's type name cannot reach a hidden relation", async () => {
    const filenode = (await client.query<{ f: number }>(`SELECT relfilenode::int8 AS f FROM pg_class WHERE oid = ${oidOf("public.employee")}`)).rows[0]!.f;
    expect(await run(READ, `SELECT pg_filenode_relation(0, ${filenode})`)).toMatchObject({ ruleId: "catalog_unanswerable" });
    const typed = await run(READ, "SELECT pg_input_is_valid('(1)', 'employee')");
    expect("rows" in typed).toBe(false);
  });
});
