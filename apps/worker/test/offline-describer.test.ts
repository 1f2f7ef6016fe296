import { describe, expect, test } from "vitest";
import { describeOffline, words } from "../src/describe/offline-describer.js";
import type { TableSnapshot } from "../src/schema/snapshot.js";

const invoice: TableSnapshot = {
  schema: "public",
  name: "invoice_lines",
  kind: "table",
  comment: null,
  rowEstimate: 2240,
  primaryKey: ["invoice_line_id"],
  uniqueConstraints: [],
  foreignKeys: [{ name: "fk", columns: ["invoice_id"], references: { schema: "public", table: "invoice", columns: ["invoice_id"] } }],
  indexes: [],
  columns: [
    { name: "invoice_line_id", type: "integer", nullable: false, default: null, comment: null },
    { name: "invoice_id", type: "integer", nullable: false, default: null, comment: null },
    { name: "unit_price", type: "numeric(10,2)", nullable: false, default: null, comment: null },
    { name: "createdAt", type: "timestamp with time zone", nullable: true, default: "now()", comment: null },
    { name: "customer_email", type: "text", nullable: true, default: null, comment: null },
    { name: "is_refunded", type: "boolean", nullable: false, default: null, comment: null },
    { name: "weird", type: "text", nullable: true, default: null, comment: "Set by the legacy importer." },
  ],
};

describe("the offline describer", () => {
  test("writes table and column descriptions from names, types, keys and foreign keys", () => {
    const d = describeOffline({ table: invoice, referencedBy: ["public.refund(invoice_line_id)"], samples: {} });
    expect(d.table).toBe(
      "Table of invoice lines: one row per invoice line. Identified by invoice_line_id. Links to invoice (via invoice_id). Referenced by public.refund(invoice_line_id). About 2,240 rows.",
    );
    const col = (name: string) => d.columns.find((c) => c.name === name)?.description;
    expect(col("invoice_line_id")).toBe("Unique identifier of the invoice line (primary key, integer).");
    expect(col("invoice_id")).toMatch(/^Reference to the invoice \(public\.invoice\.invoice_id\)/);
    expect(col("unit_price")).toMatch(/monetary amount/);
    expect(col("createdAt")).toMatch(/^When the invoice line was created/);
    expect(col("customer_email")).toMatch(/^Email address/);
    expect(col("is_refunded")).toMatch(/^Whether the invoice line is refunded/);
    expect(col("weird")).toBe("Set by the legacy importer.");
    expect(d.columns).toHaveLength(invoice.columns.length);
  });

  test("is deterministic", () => {
    const ctx = { table: invoice, referencedBy: [], samples: {} };
    expect(describeOffline(ctx)).toEqual(describeOffline(ctx));
  });

  test("splits identifiers into words", () => {
    expect(words("customerOrderID_v2")).toEqual(["customer", "order", "id", "v2"]);
  });
});
