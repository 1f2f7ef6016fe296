import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import type { TestDatabase } from "@portcullis/db/testing";
import { createPolicyChecker, ROW_FILTER_VIOLATION_MARKER, type Catalog } from "../src/index.js";
import { createPolicyDatabase } from "./support/chinook.js";
import { agree, ATTRS, bindings, clearValuesIn, createTruthDatabase, rlsRefused, runOurs, runTruth, type Truth } from "./support/governed.js";
import { SCOPES } from "./support/scopes.js";

// Differential test of row filters against PostgreSQL's own row-level security (design §2.10): the
// rewritten statement on an untouched Chinook copy must return what the caller's statement returns
// on a copy with RLS policies of the same predicates (and the masks applied in place), run as a role
// that has them — rows as multisets, RETURNING, the tables after a write, and refusals.
let ours: TestDatabase;
let catalog: Catalog;
let truth: Truth;
let a: pg.Client;
let b: pg.Client;
let baseline: string | undefined;
const checker = createPolicyChecker();
const scope = SCOPES.governed;

beforeAll(async () => {
  [{ db: ours, catalog }, truth] = await Promise.all([createPolicyDatabase(), createTruthDatabase()]);
  a = new pg.Client({ connectionString: ours.url });
  b = new pg.Client({ connectionString: truth.db.url });
  await Promise.all([a.connect(), b.connect()]);
  baseline = (await runOurs(a, "SELECT 1", checker.check("SELECT 1", scope, catalog), bindings(), true)).state;
});
afterAll(async () => {
  await Promise.all([a?.end(), b?.end()]);
  await Promise.all([ours?.drop(), truth?.close()]);
});

export const READS = [
  "SELECT * FROM customer",
  "SELECT customer_id, first_name, email FROM customer ORDER BY customer_id",
  "SELECT count(*) FROM customer",
  "SELECT count(*) FROM invoice",
  "TABLE customer",
  "SELECT * FROM ONLY customer",
  "SELECT public.customer.customer_id, public.customer.email FROM public.customer",
  "SELECT c.customer_id, c.email, i.invoice_id, i.total FROM customer c JOIN invoice i ON i.customer_id = c.customer_id",
  "SELECT c.first_name, sum(i.total) FROM customer c LEFT JOIN invoice i USING (customer_id) GROUP BY c.first_name",
  "SELECT c.customer_id, i.invoice_id FROM customer c FULL JOIN invoice i ON i.customer_id = c.customer_id WHERE c.customer_id IS NULL OR i.invoice_id IS NULL",
  "SELECT count(*) FROM customer c CROSS JOIN invoice i",
  "SELECT * FROM customer NATURAL JOIN invoice",
  "SELECT * FROM invoice WHERE customer_id IN (SELECT customer_id FROM customer WHERE country = 'USA')",
  "SELECT * FROM customer c WHERE EXISTS (SELECT 1 FROM invoice i WHERE i.customer_id = c.customer_id)",
  "SELECT * FROM customer c WHERE NOT EXISTS (SELECT 1 FROM invoice i WHERE i.customer_id = c.customer_id AND i.total > 10)",
  "SELECT (SELECT count(*) FROM customer) AS n, (SELECT count(*) FROM invoice) AS m",
  "SELECT avg(total) FROM invoice i WHERE i.customer_id = (SELECT min(customer_id) FROM customer)",
  "WITH c AS (SELECT * FROM customer) SELECT count(*), max(email), min(company) FROM c",
  "WITH i AS (SELECT customer_id, sum(total) AS t FROM invoice GROUP BY 1) SELECT c.last_name, i.t FROM i JOIN customer c USING (customer_id)",
  "WITH RECURSIVE r(n) AS (SELECT min(customer_id) FROM customer UNION ALL SELECT n + 1 FROM r WHERE n < 70) SELECT count(*) FROM r WHERE n IN (SELECT customer_id FROM customer)",
  "SELECT customer_id FROM customer UNION SELECT customer_id FROM invoice",
  "SELECT customer_id FROM customer INTERSECT SELECT customer_id FROM invoice",
  "SELECT customer_id FROM invoice EXCEPT SELECT customer_id FROM customer",
  "SELECT first_name FROM customer WHERE first_name ILIKE '%a%' UNION ALL SELECT billing_city FROM invoice WHERE billing_city ILIKE '%a%'",
  "SELECT billing_country, count(*), sum(total) FROM invoice GROUP BY billing_country",
  "SELECT billing_country FROM invoice GROUP BY 1 HAVING count(*) > 5",
  "SELECT country, count(*) FROM customer GROUP BY ROLLUP (country)",
  "SELECT max(total), min(invoice_date), avg(total) FROM invoice",
  "SELECT customer_id, total, rank() OVER (PARTITION BY customer_id ORDER BY total DESC, invoice_id) FROM invoice",
  "SELECT customer_id, sum(total) OVER () FROM invoice",
  "SELECT email, row_number() OVER (ORDER BY email, customer_id) FROM customer",
  "SELECT c.customer_id, l.total FROM customer c, LATERAL (SELECT sum(total) AS total FROM invoice i WHERE i.customer_id = c.customer_id) l",
  "SELECT c.customer_id, last.invoice_id FROM customer c JOIN LATERAL (SELECT * FROM invoice i WHERE i.customer_id = c.customer_id ORDER BY invoice_date DESC, invoice_id LIMIT 1) last ON true",
  "SELECT * FROM invoice ORDER BY total DESC, invoice_id LIMIT 10",
  "SELECT * FROM invoice ORDER BY invoice_id OFFSET 5",
  "SELECT email FROM customer ORDER BY email, customer_id LIMIT 5",
  "SELECT x.a FROM (SELECT customer_id AS a FROM customer) x",
  "SELECT * FROM (SELECT * FROM invoice WHERE total > 5) s JOIN customer c USING (customer_id)",
  "SELECT count(*) FROM invoice_line l WHERE l.invoice_id IN (SELECT invoice_id FROM invoice)",
  "SELECT i.invoice_id, l.quantity FROM invoice i JOIN invoice_line l USING (invoice_id) WHERE l.quantity > 1",
  "SELECT t.name FROM track t WHERE t.track_id IN (SELECT track_id FROM invoice_line l JOIN invoice i USING (invoice_id)) ORDER BY t.name, t.track_id LIMIT 5",
  "SELECT e.first_name, count(c.*) FROM employee e LEFT JOIN customer c ON c.support_rep_id = e.employee_id GROUP BY e.first_name",
  "SELECT customer_id FROM customer WHERE customer_id = 16",
  "SELECT * FROM customer WHERE support_rep_id = 4",
  "SELECT * FROM customer WHERE customer_id = ANY (ARRAY[1, 2, 3, 16, 17])",
  "SELECT * FROM customer WHERE 1 / (customer_id - 17) > 0",
  "SELECT * FROM invoice WHERE 1 / (customer_id - 17) > 0",
  "SELECT row_to_json(c) FROM customer c",
  "SELECT c FROM customer c",
  "SELECT c.* FROM customer c ORDER BY 1 LIMIT 3",
  "SELECT json_agg(c.email ORDER BY c.customer_id) FROM customer c",
  "SELECT string_agg(company, ',' ORDER BY company) FROM customer",
  "SELECT array_agg(DISTINCT country ORDER BY country) FROM customer",
  "SELECT upper(email), lower(company), length(phone) FROM customer",
  "SELECT email::varchar(5), phone::text FROM customer",
  "SELECT c1.customer_id, c2.customer_id FROM customer c1 JOIN customer c2 ON c1.email = c2.email AND c1.customer_id < c2.customer_id",
  "SELECT * FROM customer WHERE email LIKE '%gmail%'",
  "SELECT * FROM customer WHERE company IS NULL",
  "SELECT count(*) FILTER (WHERE phone LIKE '%5'), count(fax) FROM customer",
  "SELECT company, count(*) FROM customer GROUP BY company",
  "SELECT DISTINCT phone FROM customer",
  "SELECT DISTINCT fax FROM customer",
  "SELECT count(DISTINCT company) FROM customer",
  "SELECT coalesce(company, 'none') FROM customer",
  "SELECT CASE WHEN email LIKE '%.com' THEN 'com' ELSE 'other' END, count(*) FROM customer GROUP BY 1",
  "SELECT * FROM customer_names",
  "SELECT * FROM customer_names WHERE country = 'Canada'",
  "SELECT * FROM customer_contacts",
  "SELECT n.customer_id, i.total FROM customer_names n JOIN invoice i USING (customer_id)",
];

const C = "INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id)";
export const WRITES = [
  "UPDATE customer SET city = 'Z' WHERE country = 'USA' RETURNING customer_id, city",
  "UPDATE customer SET city = 'Z'",
  "UPDATE customer SET city = 'Z' WHERE customer_id = 16",
  "UPDATE customer SET support_rep_id = 4 WHERE customer_id = (SELECT min(customer_id) FROM customer)",
  "UPDATE customer SET support_rep_id = 3 WHERE customer_id = 16",
  "UPDATE customer SET support_rep_id = NULL WHERE country = 'Canada'",
  "UPDATE customer c SET company = 'X' FROM invoice i WHERE i.customer_id = c.customer_id AND i.total > 15 RETURNING c.customer_id",
  "WITH x AS (SELECT customer_id FROM customer WHERE country = 'USA') UPDATE customer SET city = 'Q' WHERE customer_id IN (SELECT customer_id FROM x) RETURNING customer_id",
  "UPDATE customer SET email = 'new@example.com' WHERE customer_id IN (SELECT customer_id FROM customer ORDER BY 1 LIMIT 2)",
  "DELETE FROM customer WHERE customer_id = 16",
  "DELETE FROM customer WHERE customer_id NOT IN (SELECT customer_id FROM invoice)",
  "DELETE FROM invoice WHERE total < 2",
  "DELETE FROM invoice WHERE invoice_id = -1 RETURNING *",
  `${C} VALUES (100, 'A', 'B', 'a@b.c', 3) RETURNING customer_id, first_name`,
  `${C} VALUES (100, 'A', 'B', 'a@b.c', 4)`,
  `${C} VALUES (100, 'A', 'B', 'a@b.c', NULL)`,
  "INSERT INTO customer (customer_id, first_name, last_name, email) VALUES (100, 'A', 'B', 'a@b.c')",
  `${C} VALUES (101, 'a', 'b', 'c@d.e', 3), (102, 'a', 'b', 'c@d.e', 4)`,
  `${C} SELECT customer_id + 1000, first_name, last_name, 'x@y.z', support_rep_id FROM customer RETURNING customer_id`,
  `${C} SELECT customer_id + 1000, first_name, last_name, 'x@y.z', 4 FROM customer`,
  `${C} SELECT 2000 + employee_id, first_name, last_name, 'x@y.z', employee_id FROM employee WHERE employee_id IN (3, 4)`,
  `${C} VALUES (1, 'A', 'B', 'a@b.c', 3) ON CONFLICT (customer_id) DO NOTHING`,
  `${C} VALUES (16, 'A', 'B', 'a@b.c', 3) ON CONFLICT (customer_id) DO NOTHING RETURNING customer_id`,
  `${C} VALUES (1, 'A', 'B', 'a@b.c', 3) ON CONFLICT (customer_id) DO UPDATE SET first_name = excluded.first_name RETURNING customer_id, first_name`,
  `${C} VALUES (16, 'A', 'B', 'a@b.c', 3) ON CONFLICT (customer_id) DO UPDATE SET first_name = excluded.first_name`,
  `${C} VALUES (16, 'A', 'B', 'a@b.c', 3) ON CONFLICT (customer_id) DO UPDATE SET first_name = excluded.first_name WHERE false`,
  `${C} VALUES (1, 'A', 'B', 'a@b.c', 3) ON CONFLICT (customer_id) DO UPDATE SET support_rep_id = 4`,
  `${C} VALUES (100, 'A', 'B', 'a@b.c', 3) ON CONFLICT (customer_id) DO UPDATE SET support_rep_id = 4 RETURNING customer_id`,
  "INSERT INTO invoice (invoice_id, customer_id, invoice_date, total, billing_country) VALUES (1000, 1, '2026-01-01', 1, 'USA') RETURNING invoice_id",
  "INSERT INTO invoice (invoice_id, customer_id, invoice_date, total, billing_country) VALUES (1000, 1, '2026-01-01', 1, 'Canada')",
  "UPDATE invoice SET total = total + 1 WHERE invoice_id < 100 RETURNING invoice_id, total",
  "UPDATE invoice SET billing_country = 'Canada' WHERE invoice_id = (SELECT min(invoice_id) FROM invoice)",
  "UPDATE invoice i SET total = 0 FROM customer c WHERE c.customer_id = i.customer_id AND c.country = 'USA' RETURNING i.invoice_id",
  "INSERT INTO customer DEFAULT VALUES",
  "UPDATE customer c SET city = 'x' WHERE customer_id IN (SELECT customer_id FROM customer ORDER BY 1 LIMIT 3) RETURNING (SELECT c.email), c.phone, upper(c.company), c.fax IS NULL",
  "DELETE FROM customer c WHERE customer_id NOT IN (SELECT customer_id FROM invoice) RETURNING c.*",
  // The checked write selects the caller's RETURNING back out of a CTE under the names PostgreSQL gives them.
  "UPDATE invoice SET total = total WHERE invoice_id < 120 RETURNING invoice_id::text, total + 1, (SELECT 1), CASE WHEN true THEN 'x' END, coalesce(billing_city, '?'), now() IS NOT NULL, invoice.*, billing_country::varchar(2), ARRAY[1], ROW(1), greatest(1, 2), current_date IS NULL, nullif(1, 2), (SELECT max(total) AS m FROM invoice i2), EXISTS (SELECT 1), 'a'::text, 3::int, invoice_id AS invoice_id",
];

describe("row filters and masks equal row-level security on the masked ground truth", () => {
  it(`${READS.length} reads return what RLS returns`, async () => {
    expect(READS.length).toBeGreaterThanOrEqual(60);
    const divergences: string[] = [];
    let rowsSeen = 0;
    for (const sql of READS) {
      const verdict = checker.check(sql, scope, catalog);
      expect(verdict.allowed, `${sql}: ${verdict.reason}`).toBe(true);
      expect(verdict.rewrite, sql).toBeDefined();
      const [mine, theirs] = await Promise.all([runOurs(a, sql, verdict, bindings(), false), runTruth(b, truth, sql, ATTRS, false)]);
      const d = agree(sql, mine, theirs, baseline);
      if (d) divergences.push(d);
      rowsSeen += mine.rows?.length ?? 0;
      expect(clearValuesIn(mine, truth.clearValues), sql).toEqual([]);
    }
    expect(divergences).toEqual([]);
    // The comparison must be about data: most reads return rows (a filter that hid everything would agree trivially).
    expect(rowsSeen).toBeGreaterThan(500);
  });

  it(`${WRITES.length} writes: same RETURNING, same tables after, same refusals`, async () => {
    const divergences: string[] = [];
    let refused = 0;
    let wrote = 0;
    for (const sql of WRITES) {
      const verdict = checker.check(sql, scope, catalog);
      expect(verdict.allowed, `${sql}: ${verdict.reason}`).toBe(true);
      expect(verdict.rewrite, sql).toBeDefined();
      const [mine, theirs] = await Promise.all([runOurs(a, sql, verdict, bindings(), true), runTruth(b, truth, sql, ATTRS, true)]);
      const d = agree(sql, mine, theirs, baseline);
      if (d) divergences.push(d);
      if (rlsRefused(theirs)) {
        refused++;
        expect(verdict.rewrite!.writeCheck, sql).toBe(true);
      }
      if (mine.ok && (mine.count ?? 0) > 0) wrote++;
      expect(clearValuesIn(mine, truth.clearValues), sql).toEqual([]);
    }
    expect(divergences).toEqual([]);
    expect(refused).toBeGreaterThanOrEqual(8);
    expect(wrote).toBeGreaterThanOrEqual(8);
  });

  it("a client that fetches only the first row of a checked write still has every row checked", async () => {
    // The CTE's writes run to completion whatever the client reads; the check must not depend on it.
    // LIMIT 1 on our outer query stands in for a portal's row limit: the first row is in the filter,
    // the second is not, and nothing may be written.
    const sql = `${C} VALUES (101, 'a', 'b', 'c@d.e', 3), (102, 'a', 'b', 'c@d.e', 4) RETURNING customer_id`;
    const verdict = checker.check(sql, scope, catalog);
    expect(verdict.rewrite?.writeCheck).toBe(true);
    const firstRowOnly = { ...verdict, rewrite: { ...verdict.rewrite!, sql: `${verdict.rewrite!.sql} LIMIT 1` } };
    const outcome = await runOurs(a, sql, firstRowOnly, bindings(), true);
    expect(outcome.ok).toBe(false);
    expect(outcome.message).toContain(ROW_FILTER_VIOLATION_MARKER);
    // In the filter only: the same statement writes both rows and returns the first.
    const fine = `${C} VALUES (101, 'a', 'b', 'c@d.e', 3), (102, 'a', 'b', 'c@d.e', 3) RETURNING customer_id`;
    const ok = checker.check(fine, scope, catalog);
    const written = await runOurs(a, fine, { ...ok, rewrite: { ...ok.rewrite!, sql: `${ok.rewrite!.sql} LIMIT 1` } }, bindings(), true);
    expect(written).toMatchObject({ ok: true, count: 1 });
    expect(written.state).not.toBe(baseline);
  });

  it("a member without the attribute reads no rows and writes nothing", async () => {
    const divergences: string[] = [];
    const statements = [...READS.slice(0, 25), ...WRITES];
    for (const sql of statements) {
      const verdict = checker.check(sql, scope, catalog);
      const write = !verdict.readOnly;
      const [mine, theirs] = await Promise.all([runOurs(a, sql, verdict, bindings({}), write), runTruth(b, truth, sql, {}, write)]);
      const d = agree(sql, mine, theirs, baseline);
      if (d) divergences.push(d);
      if (/^SELECT \* FROM customer$|^TABLE customer$/.test(sql)) expect(mine.rows).toEqual([]);
    }
    expect(divergences).toEqual([]);
  });
});
