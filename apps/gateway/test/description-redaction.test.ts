import type { HiddenNames } from "@portcullis/policy";
import { expect, test } from "vitest";
import { type Descriptions, descriptionsForLink, withoutHiddenColumnsElsewhere } from "../src/execution/descriptions.js";

// A link that hides invoice.customer_id and the whole employee table.
const hidden: HiddenNames = {
  global: new Set(["employee", "public.employee"]),
  columns: new Map([["public.invoice", new Set(["customer_id"])]]),
};

test("a sentence naming a column another table hides, qualified, is dropped; the rest stays", () => {
  expect(withoutHiddenColumnsElsewhere("One row per customer, about 59 rows. Referenced by invoice.customer_id.", hidden)).toBe("One row per customer, about 59 rows.");
  expect(withoutHiddenColumnsElsewhere("Referenced by public.invoice.customer_id; support_ticket.customer_id.", hidden)).toBe("support_ticket.customer_id.");
  expect(withoutHiddenColumnsElsewhere("Referenced by invoice_line.invoice_id.", hidden)).toBe("Referenced by invoice_line.invoice_id.");
  expect(withoutHiddenColumnsElsewhere("Primary key of customer. Referenced by invoice.customer_id.", { global: new Set(), columns: new Map() })).toBe(
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
