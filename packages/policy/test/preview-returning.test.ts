import { beforeAll, describe, expect, it } from "vitest";
import { policyReady, previewReturning } from "../src/index.js";
import { parseSql, type PgNode } from "../src/parse/parse.js";
import { clone, list, nodeType, str } from "../src/rewrite/ast.js";
import { sameTree } from "../src/rewrite/deparse.js";
import { returningItems } from "../src/rewrite/dml-returning.js";

// previewReturning (rewrite/preview-returning.ts): the caller's single write with its RETURNING list
// replaced by the target's visible columns. What a real server does with the text is the gateway's
// dry-run tests; here, the shape: the output must parse back to the caller's statement, unchanged, plus
// exactly the RETURNING list asked for.
beforeAll(() => policyReady());

const COLUMNS = ["invoice_id", "customer_id", "total"];

function tree(sql: string): PgNode {
  const parsed = parseSql(sql);
  if (!parsed.ok || parsed.statements.length !== 1) throw new Error(`does not parse as one statement: ${sql}`);
  return parsed.statements[0]!.stmt;
}

/** The statement node without any RETURNING (the part the preview must leave alone). */
function withoutReturning(stmt: PgNode): PgNode {
  const copy = clone(stmt);
  const inner = nodeType(copy)![1];
  delete inner.returningClause;
  delete inner.returningList;
  return copy;
}

/** Each RETURNING item as its ColumnRef's names, or a marker when it is anything else (or renamed). */
function returningRefs(stmt: PgNode): string[][] {
  return returningItems(nodeType(stmt)![1]).map((item) => {
    const rt = item.ResTarget as PgNode;
    const ref = (rt.val as PgNode).ColumnRef as PgNode | undefined;
    if (rt.name !== undefined || !ref) return ["<not a plain column reference>"];
    return list(ref.fields).map((f) => str(f) ?? "<not a name>");
  });
}

function preview(sql: string, columns: readonly string[] | null = COLUMNS) {
  const seen: { schema: string | null; name: string }[] = [];
  const result = previewReturning(sql, (target) => {
    seen.push(target);
    return columns;
  });
  return { result, seen };
}

/** The preview is ok, parses back to the caller's statement (RETURNING aside) and returns `qualified` columns. */
function expectPreview(sql: string, qualifier: string | null, columns: readonly string[] = COLUMNS) {
  const { result, seen } = preview(sql, columns);
  if (!result.ok) throw new Error(`declined: ${result.reason} — ${sql}`);
  const out = tree(result.sql);
  expect(sameTree(withoutReturning(out), withoutReturning(tree(sql))), result.sql).toBe(true);
  expect(sameTree(withoutReturning(tree(sql)), withoutReturning(out)), result.sql).toBe(true);
  expect(returningRefs(out)).toEqual(columns.map((c) => (qualifier === null ? [c] : [qualifier, c])));
  expect(seen).toHaveLength(1);
  return { ...result, target: seen[0]!, text: result.sql };
}

describe("INSERT, UPDATE and DELETE get the target's columns as their RETURNING list", () => {
  it("INSERT without and with a caller RETURNING; an alias, ON CONFLICT, INSERT … SELECT, DEFAULT VALUES", () => {
    const plain = expectPreview("INSERT INTO invoice (customer_id, total) VALUES ($1, $2)", "invoice");
    expect(plain).toMatchObject({ command: "insert", target: { schema: null, name: "invoice" }, setColumns: [] });
    const own = expectPreview("INSERT INTO invoice (customer_id, total) VALUES ($1, $2) RETURNING invoice_id, total * 2 AS doubled", "invoice");
    expect(own.text).not.toContain("doubled");
    const upsert = expectPreview(
      "INSERT INTO invoice AS i (invoice_id, total) VALUES (1, 2) ON CONFLICT (invoice_id) DO UPDATE SET total = EXCLUDED.total WHERE i.total < 100 RETURNING i.total",
      "i",
    );
    expect(upsert.setColumns).toEqual([]);
    expectPreview("INSERT INTO invoice (customer_id, total) SELECT customer_id, 0 FROM customer WHERE country = 'Norway'", "invoice");
    expectPreview("INSERT INTO invoice DEFAULT VALUES RETURNING *", "invoice");
  });

  it("UPDATE without and with a caller RETURNING; SET columns (multi-assignment too); FROM sources qualified away", () => {
    const plain = expectPreview("UPDATE invoice SET total = total * 1.1 WHERE invoice_id = $1", "invoice");
    expect(plain).toMatchObject({ command: "update", setColumns: ["total"] });
    const own = expectPreview("UPDATE invoice i SET total = 0 WHERE i.invoice_id = 5 RETURNING i.*, (SELECT count(*) FROM invoice_line) AS lines", "i");
    expect(own.text).not.toMatch(/invoice_line|lines/);
    expect(expectPreview("UPDATE invoice SET (total, customer_id) = (1, 2) WHERE invoice_id = 3", "invoice").setColumns).toEqual(["total", "customer_id"]);
    // customer has a customer_id too: qualified by the target, the item is neither ambiguous nor customer's.
    const from = expectPreview("UPDATE invoice SET total = 0 FROM customer c WHERE c.customer_id = invoice.customer_id AND c.country = 'Chile' RETURNING c.email", "invoice");
    expect(from.text).not.toContain("email");
  });

  it("DELETE without and with a caller RETURNING; USING sources; an alias", () => {
    expect(expectPreview("DELETE FROM invoice WHERE invoice_id = $1", "invoice")).toMatchObject({ command: "delete", setColumns: [] });
    expectPreview("DELETE FROM invoice WHERE total = 0 RETURNING invoice_id", "invoice");
    expectPreview("DELETE FROM invoice AS doomed USING customer c WHERE c.customer_id = doomed.customer_id AND c.country = 'Chile' RETURNING c.*", "doomed");
  });
});

describe("names", () => {
  it("quoted, mixed-case and reserved names keep their exact spelling, in the target and the columns", () => {
    const columns = ["InvoiceId", "total", "select", 'we"ird', "Total Due"];
    const r = expectPreview(`UPDATE "Sales"."Invoice" AS "Inv" SET "Total" = 0 WHERE "InvoiceId" = 1`, "Inv", columns);
    expect(r).toMatchObject({ target: { schema: "Sales", name: "Invoice" }, setColumns: ["Total"] });
    expect(r.text).toContain(`"Inv"."InvoiceId"`);
    expect(r.text).toContain(`"Inv"."we""ird"`);
    expect(expectPreview(`DELETE FROM "Invoice" WHERE "InvoiceId" = 1`, "Invoice", columns).target).toEqual({ schema: null, name: "Invoice" });
    // Unquoted names are folded as PostgreSQL folds them.
    expect(expectPreview("DELETE FROM Sales.INVOICE WHERE invoice_id = 1", "invoice").target).toEqual({ schema: "sales", name: "invoice" });
  });

  it("schema-qualified targets: the callback gets the schema, the items name the table", () => {
    const r = expectPreview("UPDATE public.invoice SET total = 0 WHERE invoice_id = 1", "invoice");
    expect(r.target).toEqual({ schema: "public", name: "invoice" });
    expect(expectPreview("INSERT INTO public.invoice (total) VALUES (1)", "invoice").target).toEqual({ schema: "public", name: "invoice" });
    expect(expectPreview("DELETE FROM public.invoice AS x WHERE x.total = 0", "x").target).toEqual({ schema: "public", name: "invoice" });
  });

  it("ONLY stays ONLY (children are not written, and the preview must not claim they are)", () => {
    const update = expectPreview("UPDATE ONLY public.invoice SET total = 0 WHERE invoice_id = 1", "invoice");
    expect(update.text).toMatch(/^UPDATE ONLY /);
    const del = expectPreview("DELETE FROM ONLY invoice i WHERE i.total = 0", "i");
    expect(del.text).toMatch(/^DELETE FROM ONLY /);
    // And a statement without ONLY does not gain it.
    expect(expectPreview("DELETE FROM invoice WHERE total = 0", "invoice").text).not.toContain("ONLY");
  });

  it("a target named or aliased old/new (PostgreSQL 18's row names in RETURNING) gets unqualified columns, or no preview when FROM/USING could make them ambiguous", () => {
    expectPreview("DELETE FROM old WHERE invoice_id = 1", null);
    expectPreview("UPDATE invoice AS new SET total = 0 WHERE new.invoice_id = 1", null);
    expectPreview(`UPDATE "OLD" SET total = 0`, "OLD");
    const r = preview("UPDATE invoice AS new SET total = 0 FROM customer c WHERE c.customer_id = new.customer_id");
    expect(r.result).toEqual({ ok: false, reason: expect.stringContaining("FROM/USING") });
  });
});

describe("what is in front of the write stays as it was", () => {
  it("a CTE that reads, and a data-modifying CTE (its own RETURNING untouched), before the write", () => {
    expectPreview("WITH big AS (SELECT invoice_id FROM invoice WHERE total > 10) DELETE FROM invoice WHERE invoice_id IN (SELECT invoice_id FROM big)", "invoice");
    const r = expectPreview(
      "WITH moved AS (DELETE FROM invoice_line WHERE invoice_id = 1 RETURNING invoice_line_id, unit_price) UPDATE invoice SET total = total - (SELECT sum(unit_price) FROM moved) WHERE invoice_id = 1 RETURNING total",
      "invoice",
    );
    expect(r.target).toEqual({ schema: null, name: "invoice" });
    expect(r.text).toContain("RETURNING invoice_line_id, unit_price)");
    expectPreview("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) INSERT INTO invoice (total) SELECT i FROM n", "invoice");
  });

  it("comments and a trailing semicolon do not matter", () => {
    expectPreview("/* fix */ DELETE FROM invoice -- the zero ones\n WHERE total = 0;", "invoice");
  });
});

describe("the caller's RETURNING clause is replaced whole", () => {
  it("parameters in the caller's RETURNING: kept when the statement uses them elsewhere, else no preview (the call binds them all)", () => {
    expectPreview("UPDATE invoice SET total = $1 WHERE invoice_id = $2 RETURNING total + $1", "invoice");
    const only = preview("UPDATE invoice SET total = $1 WHERE invoice_id = $2 RETURNING total + $3");
    expect(only.result).toEqual({ ok: false, reason: expect.stringContaining("RETURNING") });
    expect(preview("DELETE FROM invoice WHERE invoice_id = 1 RETURNING $1::text AS tag").result.ok).toBe(false);
    expect(preview("INSERT INTO invoice (total) VALUES ($2) RETURNING $1").result.ok).toBe(false);
  });

  it("the caller's WITH (OLD AS …, NEW AS …) goes with it: it could rename a row image to the target's name", () => {
    const r = expectPreview("UPDATE invoice SET total = 0 RETURNING WITH (OLD AS invoice, NEW AS n) invoice.total, n.total", "invoice");
    expect(r.text).not.toMatch(/OLD AS|NEW AS/i);
    const clause = (nodeType(tree(r.text))![1].returningClause as PgNode | undefined) ?? {};
    expect(clause.options ?? []).toEqual([]);
  });

  it("the callback's columns, in its order, nothing more", () => {
    const r = expectPreview("DELETE FROM invoice WHERE total = 0 RETURNING *", "invoice", ["total"]);
    expect(r.text).toBe("DELETE FROM invoice WHERE total = 0 RETURNING invoice.total");
  });
});

describe("statements it declines", () => {
  const declined = (sql: string, columns: readonly string[] | null = COLUMNS) => {
    const { result } = preview(sql, columns);
    expect(result.ok, sql).toBe(false);
    return result.ok ? "" : result.reason;
  };

  it("MERGE, SELECT (with a data-modifying CTE too), DDL, TRUNCATE, EXPLAIN, CALL", () => {
    expect(declined("MERGE INTO invoice i USING customer c ON c.customer_id = i.customer_id WHEN MATCHED THEN DELETE")).toContain("INSERT, UPDATE or DELETE");
    expect(declined("SELECT * FROM invoice")).toContain("INSERT, UPDATE or DELETE");
    expect(declined("WITH d AS (DELETE FROM invoice WHERE total = 0 RETURNING *) SELECT count(*) FROM d")).toContain("INSERT, UPDATE or DELETE");
    for (const sql of ["TRUNCATE invoice", "DROP TABLE invoice", "ALTER TABLE invoice ADD COLUMN x int", "EXPLAIN DELETE FROM invoice", "CALL fix_totals()", "VALUES (1)"]) declined(sql);
  });

  it("several statements, none, or text that does not parse", () => {
    expect(declined("DELETE FROM invoice WHERE invoice_id = 1; DELETE FROM invoice WHERE invoice_id = 2")).toContain("exactly one statement");
    expect(declined("SELECT 1; DELETE FROM invoice")).toContain("exactly one statement");
    // Empty text: the parser itself refuses it, or finds no statement; declined either way.
    declined("");
    declined("-- nothing");
    expect(declined("DELETE FROM WHERE")).toContain("does not parse");
  });

  it("a target with no visible column (the callback says null or none)", () => {
    expect(declined("DELETE FROM invoice WHERE total = 0", null)).toContain("no column");
    expect(declined("DELETE FROM invoice WHERE total = 0", [])).toContain("no column");
  });
});
