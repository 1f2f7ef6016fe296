import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createChinookDatabase, type TestDatabase } from "@portcullis/db/testing";
import { accessView, bindRewriteParams, createPolicyChecker, loadCatalog, parseScope, searchPathFor, type Catalog, type Scope } from "../src/index.js";

/*
 * A governed table's rule (row filter + masks, and what it hides) passes down to its partitions and
 * inheritance children: they hold the parent's rows, so reading them by name must not bypass it
 * (attacker review, issue 14: `SELECT * FROM pcust_us` returned the clear row). The parent itself,
 * with or without ONLY, must answer what PostgreSQL's RLS on the parent answers.
 */

const SETUP = `
CREATE TABLE pcust (id int, region text, secret text) PARTITION BY LIST (region);
CREATE TABLE pcust_eu PARTITION OF pcust FOR VALUES IN ('eu');
CREATE TABLE pcust_us PARTITION OF pcust FOR VALUES IN ('us');
INSERT INTO pcust VALUES (1, 'eu', 'eu-secret-1'), (2, 'us', 'us-secret-2');
CREATE TABLE cust_child (extra text) INHERITS (customer);
INSERT INTO cust_child (customer_id, first_name, last_name, email, support_rep_id, company, extra)
  VALUES (9001, 'Child', 'Row', 'child.secret@hidden.org', 5, 'ChildCorp', 'x'), (9002, 'Kid', 'Row', 'kid.visible@shown.org', 3, 'KidCorp', 'y');
CREATE TABLE cust_own (extra text) INHERITS (customer);
INSERT INTO cust_own (customer_id, first_name, last_name, email, support_rep_id, extra) VALUES (9101, 'Own', 'Rule', 'own@own.org', 4, 'z');
`;

const SCOPE = {
  access: "read",
  tables: {
    pcust: { rowFilter: "region = {{member.attr.region}}", maskedColumns: { secret: "redact" } },
    customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email" } },
  },
};
const HIDDEN_COLUMN_SCOPE = { access: "read", tables: { customer: { hiddenColumns: ["email"] } } };
// A child with its own (different) rule: reading the parent without ONLY would read its rows under the parent's rule.
const OWN_RULE_SCOPE = {
  access: "read",
  tables: { ...SCOPE.tables, cust_own: { rowFilter: "support_rep_id = 4" } },
};
const ROLE = `pc_inh_${randomBytes(4).toString("hex")}`;
const ATTRS = { region: "eu", rep_id: "3" };

let db: TestDatabase;
let client: pg.Client;
let catalog: Catalog;
const checker = createPolicyChecker();

function scopeOf(raw: unknown): Scope {
  const parsed = parseScope(raw);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

type Outcome = { refused: string } | { rows: Record<string, unknown>[] };

async function run(raw: unknown, sql: string): Promise<Outcome> {
  const scope = scopeOf(raw);
  const verdict = checker.check(sql, scope, catalog);
  if (!verdict.allowed) return { refused: `${verdict.ruleId}: ${verdict.reason}` };
  const values = verdict.rewrite
    ? bindRewriteParams(verdict.rewrite.params, { memberId: "m", memberEmail: "m@x.org", keyId: "k", linkId: "l", teamId: "t", attributes: ATTRS, maskKey: Buffer.alloc(32, 7) })
    : [];
  await client.query("BEGIN READ ONLY");
  try {
    await client.query(`SET LOCAL search_path = ${searchPathFor(scope)}`);
    const r = await client.query({ text: verdict.rewrite?.sql ?? sql, values });
    return { rows: r.rows };
  } finally {
    await client.query("ROLLBACK");
  }
}

/** What PostgreSQL's RLS on the parent answers, for a role that has only the parent's policy. */
async function rls(sql: string): Promise<Record<string, unknown>[]> {
  await client.query("BEGIN READ ONLY");
  try {
    await client.query(`SET LOCAL ROLE ${ROLE}`);
    return (await client.query(sql)).rows;
  } finally {
    await client.query("ROLLBACK");
  }
}

beforeAll(async () => {
  db = await createChinookDatabase();
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
  await client.query(SETUP);
  await client.query(`
    DROP ROLE IF EXISTS ${ROLE}; CREATE ROLE ${ROLE};
    GRANT SELECT ON pcust, customer TO ${ROLE};
    ALTER TABLE pcust ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON pcust TO ${ROLE} USING (region = 'eu');
    ALTER TABLE customer ENABLE ROW LEVEL SECURITY; CREATE POLICY p ON customer TO ${ROLE} USING (support_rep_id = 3);`);
  catalog = await loadCatalog(client);
}, 120_000);

afterAll(async () => {
  await client?.query(`DROP OWNED BY ${ROLE}; DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
  await client?.end();
  await db?.drop();
});

const sortById = (rows: Record<string, unknown>[], id: string): Record<string, unknown>[] => [...rows].sort((a, b) => Number(a[id]) - Number(b[id]));

describe("governed partitions and inheritance children", () => {
  it("a partition read by name gets its parent's filter and masks", async () => {
    // Before the fix: [{ id: 2, region: 'us', secret: 'us-secret-2' }].
    expect(await run(SCOPE, "SELECT * FROM pcust_us")).toEqual({ rows: [] });
    expect(await run(SCOPE, "SELECT * FROM pcust_eu")).toEqual({ rows: [{ id: 1, region: "eu", secret: "***" }] });
  });

  it("the partitioned parent, with and without ONLY, equals RLS on the parent (masks applied)", async () => {
    const truth = (await rls("SELECT id, region, '***' AS secret FROM pcust")).map((r) => ({ ...r }));
    expect(truth).toEqual([{ id: 1, region: "eu", secret: "***" }]);
    expect(await run(SCOPE, "SELECT * FROM pcust")).toEqual({ rows: truth });
    expect(await run(SCOPE, "SELECT * FROM ONLY pcust")).toEqual({ rows: await rls("SELECT id, region, '***' AS secret FROM ONLY pcust") });
  });

  it("on a link whose default is none, a governed partitioned table's partitions follow it (no false refusal)", async () => {
    const scope = { access: "none", tables: { pcust: { ...SCOPE.tables.pcust, access: "read" } } };
    expect(await run(scope, "SELECT * FROM pcust")).toEqual({ rows: [{ id: 1, region: "eu", secret: "***" }] });
    expect(await run(scope, "SELECT * FROM pcust_us")).toEqual({ rows: [] });
    // An inheritance child may add columns: it stays at the default (none), so the parent needs ONLY.
    const inherited = { access: "none", tables: { customer: { ...SCOPE.tables.customer, access: "read" } } };
    expect(await run(inherited, "SELECT customer_id FROM cust_child")).toMatchObject({ refused: expect.stringMatching(/does not exist/) });
    expect(await run(inherited, "SELECT customer_id FROM customer")).toMatchObject({ refused: expect.stringMatching(/ONLY/) });
  });

  it("an inheritance child read by name gets its parent's filter and masks", async () => {
    // Before the fix: 9001 with child.secret@hidden.org in clear.
    const out = await run(SCOPE, "SELECT customer_id, email, support_rep_id FROM cust_child");
    expect(out).toEqual({ rows: [{ customer_id: 9002, email: "***@shown.org", support_rep_id: 3 }] });
  });

  it("the inheritance parent with and without ONLY equals RLS on the parent", async () => {
    for (const only of ["", "ONLY "]) {
      const truth = await rls(`SELECT customer_id, support_rep_id, '***@' || split_part(email, '@', 2) AS email FROM ${only}customer`);
      const out = await run(SCOPE, `SELECT customer_id, support_rep_id, email FROM ${only}customer`);
      expect("rows" in out && sortById(out.rows, "customer_id")).toEqual(sortById(truth, "customer_id"));
    }
    const all = await run(SCOPE, "SELECT customer_id FROM customer WHERE customer_id > 9000");
    expect(all).toEqual({ rows: [{ customer_id: 9002 }] });
  });

  it("a parent's hidden column stays hidden in its children", async () => {
    // Before the fix: cust_child.email answered in clear.
    const out = await run(HIDDEN_COLUMN_SCOPE, "SELECT customer_id, email FROM cust_child");
    expect("refused" in out && out.refused).toMatch(/email/);
    const star = await run(HIDDEN_COLUMN_SCOPE, "SELECT * FROM cust_child WHERE customer_id = 9001");
    expect("rows" in star && Object.keys(star.rows[0]!)).not.toContain("email");
  });

  it("a child with its own different rule: the parent without ONLY is refused, ONLY and the child itself work", async () => {
    const view = accessView(scopeOf(OWN_RULE_SCOPE), catalog);
    expect(view.governed.get("public.customer")?.governedChildren).toEqual(["public.cust_own"]);
    expect(await run(OWN_RULE_SCOPE, "SELECT customer_id FROM customer")).toMatchObject({ refused: expect.stringMatching(/cust_own/) });
    const only = await run(OWN_RULE_SCOPE, "SELECT count(*)::int AS n FROM ONLY customer");
    expect(only).toEqual({ rows: await rls("SELECT count(*)::int AS n FROM ONLY customer") });
    expect(await run(OWN_RULE_SCOPE, "SELECT customer_id FROM cust_own")).toEqual({ rows: [{ customer_id: 9101 }] });
    // Children with no rule of their own follow the parent: no refusal on their account.
    expect(accessView(scopeOf(SCOPE), catalog).governed.get("public.customer")?.governedChildren).toEqual([]);
  });
});
