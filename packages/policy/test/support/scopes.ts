import { parseScope, type Scope } from "../../src/index.js";

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

/**
 * The scopes the suites attack. Each hides something except `full` and `open` (the read-only preset
 * on a database where nothing is hidden, where catalog browsing must work).
 */
export const SCOPES = {
  /** Read-only with the PII story: employees hidden, customer contact columns hidden, hr schema invisible. */
  read: scope({
    access: "read",
    schemas: ["public", "sales"],
    tables: {
      employee: { access: "none" },
      customer: { hiddenColumns: ["email", "phone", "address", "fax"] },
      audit_log: { access: "none" },
      secret_note: { access: "none" },
    },
  }),
  /** The read-only preset, nothing hidden. */
  open: scope({ access: "read" }),
  /** Read-write on chosen tables. */
  write: scope({
    access: "read",
    schemas: ["public"],
    tables: {
      invoice: { access: "write" },
      invoice_line: { access: "write" },
      customer: { access: "write", hiddenColumns: ["email"] },
      ticket_seq: { access: "write" },
      employee: { access: "none" },
    },
  }),
  /** Full access: admin on everything, nothing hidden. */
  full: scope({ access: "admin" }),
  /** Custom: deny by default, a few tables granted, one column hidden, one table admin. */
  custom: scope({
    access: "none",
    schemas: ["public"],
    tables: {
      album: { access: "read" },
      artist: { access: "read" },
      track: { access: "read", hiddenColumns: ["unit_price", "bytes"] },
      playlist: { access: "write" },
      genre: { access: "admin" },
    },
  }),
  /** Admin that still hides: a lead's own link with the PII columns masked. */
  adminHiding: scope({
    access: "admin",
    schemas: ["public"],
    tables: { customer: { hiddenColumns: ["email"] }, employee: { access: "none" } },
  }),
  /**
   * Issue 14: row filters and masks. A member sees the customers of their support rep and the
   * invoices of their country; customer contact columns leave only masked. Writes on both tables.
   */
  governed: scope({
    access: "read",
    schemas: ["public"],
    tables: {
      customer: {
        access: "write",
        rowFilter: "support_rep_id = {{member.attr.rep_id}}",
        maskedColumns: { email: "email", phone: "last4", fax: "redact", company: "hash" },
      },
      invoice: { access: "write", rowFilter: "billing_country = {{member.attr.country}}" },
    },
  }),
  /** The read-only twin of `governed`. */
  governedRead: scope({
    access: "read",
    schemas: ["public"],
    tables: {
      customer: {
        rowFilter: "support_rep_id = {{member.attr.rep_id}}",
        maskedColumns: { email: "email", phone: "last4", fax: "redact", company: "hash" },
      },
      invoice: { rowFilter: "billing_country = {{member.attr.country}}" },
    },
  }),
} satisfies Record<string, Scope>;

export type ScopeName = keyof typeof SCOPES;
