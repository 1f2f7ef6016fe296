import type { HiddenNames } from "@portcullis/policy";
import { expect, test } from "vitest";
import { type Descriptions, descriptionsForLink, withoutHiddenColumnsElsewhere } from "../src/execution/descriptions.js";

// A link that hides invoice.customer_id and the whole employee table.
const hidden: HiddenNames = {
  global: new Set(["employee", "public.employee"]),
  columns: new Map([["public.invoice", new Set(["customer_id"])]]),
  governed: new Map(),
};

test("a sentence naming a column another table hides, qualified, is dropped; the rest stays", () => {
  expect(withoutHiddenColumnsElsewhere("One row per customer, about 59 rows. Referenced by invoice.customer_id.", hidden)).toBe("One row per customer, about 59 rows.");
  expect(withoutHiddenColumnsElsewhere("Referenced by public.invoice.customer_id; support_ticket.customer_id.", hidden)).toBe("support_ticket.customer_id.");
  expect(withoutHiddenColumnsElsewhere("Referenced by invoice_line.invoice_id.", hidden)).toBe("Referenced by invoice_line.invoice_id.");
  expect(withoutHiddenColumnsElsewhere("Primary key of customer. Referenced by invoice.customer_id.", { global: new Set(), columns: new Map(), governed: new Map() })).toBe(
    "Primary key of customer. Referenced by invoice.customer_id.",
  );
});

test("what a link sees of the offline describer's texts: hidden tables and hidden columns elsewhere are gone", () => {
  const stored: Descriptions = new Map([
    [
      "public.customer",
      {
        table: "One row per customer, about 59 rows. Joins employee via support_rep_id. Referenced by invoice.customer_id.",
        columns: new Map([
          ["customer_id", "Primary key of customer. Referenced by invoice.customer_id."],
          ["support_rep_id", "Support rep (an employee). Joins employee.employee_id."],
          ["rep_code", "Support rep (an employee). Joins employee.code."],
          ["city", "The customer's city."],
        ]),
      },
    ],
  ]);
  const seen = descriptionsForLink(stored, hidden).get("public.customer")!;
  expect(seen.table).toBe("One row per customer, about 59 rows.");
  expect(seen.columns.get("customer_id")).toBe("Primary key of customer.");
  // The hidden table's name takes its sentence; what is left says nothing of it.
  expect(seen.columns.has("support_rep_id")).toBe(false);
  expect(seen.columns.has("rep_code")).toBe(false);
  expect(seen.columns.get("city")).toBe("The customer's city.");
});

test("a row-filtered table's texts lose counts and values; a masked column's too; the rest stays", () => {
  const stored: Descriptions = new Map([
    [
      "public.customer",
      {
        table: "One row per customer, about 59 rows. Referenced by invoice.customer_id.",
        columns: new Map([
          ["country", "The customer's country. Values: USA, Canada, Brazil (24 distinct)."],
          ["email", "The customer's e-mail address, e.g. luisg@embraer.com.br."],
          ["city", "The customer's city."],
        ]),
      },
    ],
    ["public.invoice", { table: "One row per invoice, about 412 rows.", columns: new Map([["billing_country", "Values: USA, Canada."]]) }],
  ]);
  const governed: HiddenNames = {
    global: new Set(),
    columns: new Map(),
    governed: new Map([["public.customer", { partialRows: true, masked: new Set(["email"]) }], ["public.invoice", { partialRows: false, masked: new Set(["billing_country"]) }]]),
  };
  const customer = descriptionsForLink(stored, governed).get("public.customer")!;
  expect(customer.table).toBe("Referenced by invoice.customer_id.");
  expect(customer.columns.get("country")).toBe("The customer's country.");
  expect(customer.columns.has("email")).toBe(false);
  expect(customer.columns.get("city")).toBe("The customer's city.");
  const invoice = descriptionsForLink(stored, governed).get("public.invoice")!;
  // Masks only: the table's own count stays (every row is visible), the masked column's values go.
  expect(invoice.table).toBe("One row per invoice, about 412 rows.");
  expect(invoice.columns.has("billing_country")).toBe(false);
});
