import { describe, expect, it } from "vitest";
import { hiddenNames, parseScope, redactHiddenMentions, visibleObjects, type Catalog, type Scope } from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

const catalog: Catalog = chinookCatalog;
const scope = (input: unknown): Scope => {
  const parsed = parseScope(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
};

describe("free text never names what a link cannot see", () => {
  const hiding = scope({ access: "read", tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email", "phone"] } } });
  const names = hiddenNames(hiding, catalog);

  it("drops the sentences that mention a hidden table, in any case, plural or possessive", () => {
    expect(redactHiddenMentions("Customers of the store. Served by an Employee.", names, "public.customer")).toBe("Customers of the store.");
    expect(redactHiddenMentions("Each employee's rep. Buyers.", names, "public.album")).toBe("Buyers.");
    expect(redactHiddenMentions("See employees for staff", names, "public.album")).toBeUndefined();
    expect(redactHiddenMentions("Joined with public.employee on reports_to", names)).toBeUndefined();
  });

  it("drops mentions of a table's hidden columns only in that table's texts", () => {
    expect(redactHiddenMentions("Name and email of the buyer.", names, "public.customer")).toBeUndefined();
    expect(redactHiddenMentions("Contact by phone\nFirst name", names, "public.customer")).toBe("First name");
    // Elsewhere "email" is just a word (another table may well have a visible email column).
    expect(redactHiddenMentions("Sent by email.", names, "public.invoice")).toBe("Sent by email.");
  });

  it("does not confuse a hidden name with a longer identifier that contains it", () => {
    expect(redactHiddenMentions("Key is employee_id_old.", names, "public.invoice")).toBe("Key is employee_id_old.");
  });

  it("leaves text alone for links that hide nothing", () => {
    const open = hiddenNames(scope({ access: "read" }), catalog);
    expect(redactHiddenMentions("Served by an employee.", open, "public.customer")).toBe("Served by an employee.");
  });

  it("applies to PostgreSQL comments listed by visibleObjects", () => {
    const withComment: Catalog = {
      ...catalog,
      relations: {
        ...catalog.relations,
        "public.invoice": { ...catalog.relations["public.invoice"]!, comment: "Sales. Approved by an employee." },
      },
    };
    const invoice = visibleObjects(hiding, withComment).relations.find((r) => r.key === "public.invoice")!;
    expect(invoice.comment).toBe("Sales.");
  });
});
