import { randomUUID } from "node:crypto";
import { parseScope, type Catalog, type CatalogRelation, type HiddenNames, type Scope } from "@portcullis/policy";
import type { CallContext, LinkRecord } from "../src/context.js";
import { descriptionsForLink, type Descriptions } from "../src/execution/descriptions.js";
import type { Services } from "../src/services.js";

/**
 * A catalog shaped like the 3,000-table test database (30 schemas × 100 `entity_N` tables with a
 * foreign key to the previous one) plus a few hand-made tables in `public` for ranking and hiding:
 * what the schema tools see after loadCatalog, without a database, for pure unit tests.
 */
function relation(schema: string, name: string, columns: [string, string][], extra: Partial<CatalogRelation> = {}): CatalogRelation {
  return {
    oid: 0,
    schema,
    name,
    kind: "table",
    columns: columns.map(([n, type]) => ({ name: n, type, nullable: n !== "id", hasDefault: false })),
    primaryKey: ["id"],
    foreignKeys: [],
    children: [],
    ...extra,
  };
}

export function generatedCatalog(options: { tables?: number; version?: string } = {}): Catalog {
  const tables = options.tables ?? 3000;
  const relations: Record<string, CatalogRelation> = {};
  const schemas = ["public"];
  for (let i = 0; i < tables; i++) {
    const schema = `s${String(Math.floor(i / 100)).padStart(2, "0")}`;
    if (!schemas.includes(schema)) schemas.push(schema);
    const previous = i > 0 ? `s${String(Math.floor((i - 1) / 100)).padStart(2, "0")}.entity_${i - 1}` : undefined;
    relations[`${schema}.entity_${i}`] = relation(
      schema,
      `entity_${i}`,
      [["id", "integer"], ["name", "text"], ["code", "character varying(20)"], ["created_at", "timestamp with time zone"], ["parent_id", "integer"]],
      { comment: `Entity number ${i} of the generated model.`, ...(previous ? { foreignKeys: [{ columns: ["parent_id"], references: previous, referencedColumns: ["id"] }] } : {}) },
    );
  }
  const pub = (name: string, columns: [string, string][], extra: Partial<CatalogRelation> = {}) => (relations[`public.${name}`] = relation("public", name, columns, extra));
  pub("orders", [["id", "integer"], ["customer_id", "integer"], ["total", "numeric(12,2)"]], { foreignKeys: [{ columns: ["customer_id"], references: "public.customer", referencedColumns: ["id"] }] });
  pub("orders_archive", [["id", "integer"], ["moved_at", "timestamp with time zone"]]);
  pub("customer_orders", [["id", "integer"], ["note", "text"]]);
  pub("shipment", [["id", "integer"], ["orders", "integer"]]);
  pub("ledger", [["id", "integer"], ["past_orders", "integer"]]);
  pub("refund", [["id", "integer"], ["amount", "numeric"]]);
  pub("customer", [["id", "integer"], ["name", "text"], ["email", "text"], ["ssn", "text"], ["tax_token", "text"]]);
  pub("contact", [["id", "integer"], ["email", "text"]]);
  pub("invoice", [["id", "integer"], ["customer_id", "integer"], ["amount", "numeric"]], {
    foreignKeys: [{ columns: ["customer_id"], references: "public.customer", referencedColumns: ["id"] }],
  });
  pub("region_stats", [["id", "integer"], ["region", "text"]]);
  pub("secret_payroll", [["id", "integer"], ["salary", "numeric"], ["orders", "integer"]], { comment: "Monthly salaries of every employee." });
  pub("wide", Array.from({ length: 600 }, (_, i): [string, string] => [i === 0 ? "id" : `measurement_value_${i}`, "double precision"]));
  return {
    version: options.version ?? "v1",
    loadedAt: "2026-12-07T00:00:00.000Z",
    database: "generated",
    serverVersion: 150000,
    schemas,
    relations,
    systemRelations: {},
    functions: {
      "public.refresh_totals": { schema: "public", name: "refresh_totals", kind: "function", volatility: "volatile", language: "sql", securityDefiner: false, extension: null, reads: ["public.orders"], arities: [[0, 0]], calls: [] },
      "public.payroll_total": { schema: "public", name: "payroll_total", kind: "function", volatility: "stable", language: "sql", securityDefiner: false, extension: null, reads: ["public.secret_payroll"], arities: [[0, 0]], calls: [] },
    },
    builtinFunctions: {},
    operators: {},
    extensions: [],
  };
}

/** Stored descriptions as the describer writes them: about the whole database, hidden objects included. */
export function generatedDescriptions(): Descriptions {
  return new Map([
    ["public.refund", { table: "Money returned for orders that came back.", columns: new Map() }],
    ["public.region_stats", { table: "Monthly revenue per region.", columns: new Map([["region", "Sales region code."]]) }],
    [
      "public.customer",
      {
        table: "People who buy. Identified by ssn.",
        columns: new Map([
          ["ssn", "Social security number of the holder."],
          ["email", "Contact address for receipts."],
          ["tax_token", "Opaque token."],
        ]),
      },
    ],
    [
      "public.invoice",
      {
        table: "Bills sent to customers. Salaries are in secret_payroll.",
        columns: new Map([["customer_id", "Who pays. Matches customer.ssn for identity checks."]]),
      },
    ],
    ["public.secret_payroll", { table: "Monthly salaries of every employee.", columns: new Map([["salary", "Gross monthly pay."]]) }],
  ]);
}

export function scopeOf(input: unknown): Scope {
  const parsed = parseScope(input);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

/** The link every hiding test uses: a hidden table, two hidden columns, one writable table. */
export const hidingScope = (): Scope =>
  scopeOf({ access: "read", tables: { secret_payroll: { access: "none" }, customer: { hiddenColumns: ["email", "ssn"] }, orders: { access: "write" } } });

/**
 * The two things the schema tools read from Services — the link's catalog and its stored descriptions
 * (redacted per link by the real descriptionsForLink) — over a generated catalog, for pure unit tests.
 */
export function catalogServices(scope: Scope, catalog: Catalog = generatedCatalog(), stored: Descriptions = generatedDescriptions(), extra: Partial<Services> = {}) {
  let current = catalog;
  const link = { id: "link-1", teamId: "t", name: "l", status: "active", scope, connection: { id: `conn-${randomUUID()}` } } as unknown as LinkRecord;
  const services = {
    maxResultBytes: 256 * 1024,
    catalogFor: async () => current,
    descriptions: { forLink: async (_id: string, hidden: HiddenNames) => descriptionsForLink(stored, hidden) },
    ...extra,
  } as unknown as Services;
  return {
    ctx: { link } as CallContext,
    services,
    setCatalog(next: Catalog) {
      current = next;
    },
  };
}
