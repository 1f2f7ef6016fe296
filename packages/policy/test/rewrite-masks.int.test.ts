import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import type { TestDatabase } from "@portcullis/db/testing";
import { createPolicyChecker, parseScope, type Catalog, type Scope } from "../src/index.js";
import { createPolicyDatabase } from "./support/chinook.js";
import { bindings, clearValuesIn, createTruthDatabase, MASK_KEY, maskValue, OTHER_MASK_KEY, runOurs, type Outcome, type Truth } from "./support/governed.js";

// Masks (design §2.10): the rewritten statement on an untouched copy returns exactly what the
// caller's statement returns on a copy where the masked columns were replaced in place by their
// masked value (the masks written again in TypeScript) — so ORDER BY, GROUP BY, DISTINCT, joins and
// casts operate on the masked value — and no clear value of a masked column appears in any cell.
const MASKED = { email: "email", phone: "last4", fax: "redact", company: "hash", address: "partial", support_rep_id: "redact" } as const;

function scopeOf(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}
const scope = scopeOf({ access: "read", schemas: ["public"], tables: { customer: { access: "write", maskedColumns: MASKED } } });

let ours: TestDatabase;
let catalog: Catalog;
let truth: Truth;
let a: pg.Client;
let b: pg.Client;
const checker = createPolicyChecker();

beforeAll(async () => {
  [{ db: ours, catalog }, truth] = await Promise.all([createPolicyDatabase(), createTruthDatabase({ masks: MASKED, rls: false })]);
  a = new pg.Client({ connectionString: ours.url });
  b = new pg.Client({ connectionString: truth.db.url });
  await Promise.all([a.connect(), b.connect()]);
});
afterAll(async () => {
  await Promise.all([a?.end(), b?.end()]);
  await Promise.all([ours?.drop(), truth?.close()]);
});

async function truthOf(sql: string, write = false): Promise<Outcome> {
  // The ground truth runs the caller's own text on the masked copy (as the owner: no filters here).
  return runOurs(b, sql, { ...checker.check("SELECT 1", scope, catalog), rewrite: undefined }, bindings(), write);
}

const READS = [
  "SELECT * FROM customer",
  "TABLE customer",
  "SELECT email, count(*) FROM customer GROUP BY email",
  "SELECT DISTINCT split_part(email, '@', 2) FROM customer",
  "SELECT company FROM customer ORDER BY company NULLS FIRST, customer_id",
  "SELECT company, count(*) FROM customer GROUP BY company HAVING count(*) > 0",
  "SELECT count(DISTINCT company), count(company), count(fax), count(support_rep_id) FROM customer",
  "SELECT c1.customer_id, c2.customer_id FROM customer c1 JOIN customer c2 ON c1.email = c2.email AND c1.customer_id < c2.customer_id",
  "SELECT c1.customer_id, c2.customer_id FROM customer c1 JOIN customer c2 ON c1.company = c2.company AND c1.customer_id < c2.customer_id",
  "SELECT email::varchar(3), phone::text, fax::varchar, address, company::char(5) FROM customer",
  "SELECT * FROM customer WHERE email LIKE '%@gmail.com'",
  "SELECT customer_id FROM customer WHERE phone = '***5555' OR address LIKE 'R%'",
  "SELECT max(email), min(address), string_agg(phone, ',' ORDER BY phone, customer_id) FROM customer",
  "SELECT row_to_json(c), c FROM customer c",
  "SELECT c.* FROM customer c JOIN invoice i USING (customer_id) WHERE i.total > 10",
  "WITH x AS (SELECT email AS e, company AS k FROM customer) SELECT e, k FROM x ORDER BY e, k",
  "SELECT email FROM customer UNION SELECT email FROM employee",
  "SELECT sum(support_rep_id), avg(support_rep_id), max(support_rep_id) FROM customer",
  "SELECT count(*) FROM customer c JOIN employee e ON e.employee_id = c.support_rep_id",
  "SELECT (SELECT email FROM customer WHERE customer_id = 1), (SELECT count(*) FROM customer WHERE fax IS NULL)",
  "SELECT upper(company), length(company), md5(company), left(email, 4) FROM customer",
  "SELECT * FROM customer_contacts",
  "SELECT * FROM customer ORDER BY email DESC, customer_id LIMIT 7",
  "SELECT email, lag(email) OVER (ORDER BY customer_id) FROM customer",
  "SELECT ARRAY(SELECT phone FROM customer ORDER BY customer_id)",
  "SELECT jsonb_agg(to_jsonb(c) - 'customer_id' ORDER BY c.customer_id) FROM customer c",
  "SELECT x.* FROM (SELECT * FROM customer) x WHERE x.company IS NOT NULL",
  "SELECT c.customer_id, l.n FROM customer c, LATERAL (SELECT count(*) AS n FROM customer d WHERE d.company = c.company) l",
  "SELECT customer_id FROM customer WHERE email IN (SELECT email FROM customer WHERE customer_id < 10)",
  "SELECT email FROM customer INTERSECT SELECT email FROM customer WHERE country = 'Brazil'",
];

describe("masks equal the mask applied to the ground truth", () => {
  it(`${READS.length} reads match the masked copy, and no clear value leaves`, async () => {
    const divergences: string[] = [];
    for (const sql of READS) {
      const verdict = checker.check(sql, scope, catalog);
      expect(verdict.allowed, `${sql}: ${verdict.reason}`).toBe(true);
      expect(verdict.rewrite, sql).toBeDefined();
      const mine = await runOurs(a, sql, verdict, bindings(), false);
      expect(mine.ok, `${sql}: ${mine.message}`).toBe(true);
      expect(clearValuesIn(mine, truth.clearValues), sql).toEqual([]);
      const theirs = await truthOf(sql);
      if (JSON.stringify([mine.fields, mine.rows]) !== JSON.stringify([theirs.fields, theirs.rows]))
        divergences.push(`${sql}\n  ${mine.rows?.slice(0, 2).join(" ")} | truth ${theirs.rows?.slice(0, 2).join(" ")} (${theirs.message ?? ""})`);
    }
    expect(divergences).toEqual([]);
    expect(truth.clearValues.size).toBeGreaterThan(150); // the search had something to look for
  });

  it("RETURNING of a write returns masked values", async () => {
    for (const sql of [
      "UPDATE customer SET city = 'Q' WHERE customer_id < 5 RETURNING customer_id, email, phone, fax, company, address, support_rep_id",
      "UPDATE customer SET city = 'Q' WHERE customer_id < 5 RETURNING *",
      "DELETE FROM customer WHERE customer_id NOT IN (SELECT customer_id FROM invoice) OR customer_id < 0 RETURNING *",
    ]) {
      const verdict = checker.check(sql, scope, catalog);
      expect(verdict.allowed, `${sql}: ${verdict.reason}`).toBe(true);
      const [mine, theirs] = await Promise.all([runOurs(a, sql, verdict, bindings(), true), truthOf(sql, true)]);
      expect(mine.ok, mine.message).toBe(true);
      expect([mine.fields, mine.rows], sql).toEqual([theirs.fields, theirs.rows]);
      expect(clearValuesIn(mine, truth.clearValues), sql).toEqual([]);
    }
    // A value just written leaves masked too (writing into a masked column is allowed, reading it back is not).
    const sql =
      "INSERT INTO customer (customer_id, first_name, last_name, email, phone, company, address, support_rep_id) VALUES (100, 'a', 'b', 'new@x.org', '+1 555 1234567', 'Secret Co', 'Main Street 1', 3) RETURNING email, phone, company, address, support_rep_id, upper(email) AS up, customer_id";
    const verdict = checker.check(sql, scope, catalog);
    expect(verdict.allowed, verdict.reason).toBe(true);
    const mine = await runOurs(a, sql, verdict, bindings(), true);
    expect(mine.fields).toEqual(["email", "phone", "company", "address", "support_rep_id", "up", "customer_id"]);
    expect(mine.rows).toEqual([JSON.stringify(["***@x.org", "***4567", maskValue("hash", "Secret Co"), "M***1", null, "***@X.ORG", 100])]);
  });

  it("the hash is stable across calls and differs across link keys", async () => {
    const sql = "SELECT customer_id, company FROM customer WHERE company IS NOT NULL ORDER BY customer_id";
    const verdict = checker.check(sql, scope, catalog);
    const first = await runOurs(a, sql, verdict, bindings(), false);
    const again = await runOurs(a, sql, checker.check(sql, scope, catalog), bindings(), false);
    const other = await runOurs(a, sql, verdict, bindings(undefined, OTHER_MASK_KEY), false);
    expect(again.rows).toEqual(first.rows);
    const clear = await a.query<{ customer_id: number; company: string }>(sql);
    expect(clear.rows.length).toBeGreaterThan(5);
    const expected = (key: Buffer) => clear.rows.map((r) => JSON.stringify([r.customer_id, maskValue("hash", r.company, key)])).sort();
    expect(first.rows).toEqual(expected(MASK_KEY));
    expect(other.rows).toEqual(expected(OTHER_MASK_KEY));
    const firstHashes = new Set(first.rows!.map((r) => JSON.parse(r)[1]));
    for (const r of other.rows!) expect(firstHashes.has(JSON.parse(r)[1])).toBe(false);
    // Without a key the hash is NULL: never the clear value.
    const none = await runOurs(a, sql, verdict, { ...bindings(), maskKey: null }, false);
    for (const r of none.rows!) expect(JSON.parse(r)[1]).toBeNull();
  });
});
