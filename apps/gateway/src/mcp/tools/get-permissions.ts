import { listAccessGrants } from "@portcullis/db/operations";
import { MASK_KINDS, describeGovernance, describeScope, splitTableKey, type Scope } from "@portcullis/policy";
import { z } from "zod";
import type { TypedTool } from "../../calls/call-outcome.js";
import { linkAllowance } from "../../calls/link-allowance.js";
import { linkAllowanceSchema } from "../../calls/outcome-schema.js";
import { isMultiDatabase, linkDatabases } from "../../access/link-database.js";
import type { LinkRecord } from "../../context.js";
import type { Services } from "../../services.js";
import { escapeUnsafe, ident } from "./schema-format.js";

const input = z.object({});

/**
 * describeScope names schemas and tables as they are; they come from the database (the admin picked
 * them from its catalog), so a name with a line break or an ESC would forge a line of this text. Each
 * such name is replaced by its escaped spelling (ident), then any unsafe character left is escaped too.
 */
function escapeNames(summary: string, scope: Scope): string {
  const names = new Map<string, string>();
  for (const schema of scope.schemas ?? []) if (ident(schema) !== schema) names.set(schema, ident(schema));
  for (const key of Object.keys(scope.tables)) {
    const { schema, name } = splitTableKey(key);
    const escaped = `${ident(schema)}.${ident(name)}`;
    if (escaped !== `${schema}.${name}`) names.set(`${schema}.${name}`, escaped);
    for (const column of Object.keys(scope.tables[key]?.maskedColumns ?? {})) if (ident(column) !== column) names.set(column, ident(column));
  }
  let out = summary;
  for (const [raw, escaped] of [...names].sort((a, b) => b[0].length - a[0].length)) out = out.split(raw).join(escaped);
  return out
    .split("\n")
    .map((line) => escapeUnsafe(line))
    .join("\n");
}

function costLimitsOf(scope: Scope): { maxEstimatedCost?: number; maxEstimatedRows?: number } {
  const { maxEstimatedCost, maxEstimatedRows } = scope.limits;
  return { ...(maxEstimatedCost !== undefined ? { maxEstimatedCost } : {}), ...(maxEstimatedRows !== undefined ? { maxEstimatedRows } : {}) };
}

/** The cost gate in words: what a statement may be estimated at before it is refused without running. */
function costLimitLines(scope: Scope): string[] {
  const { maxEstimatedCost, maxEstimatedRows } = scope.limits;
  const parts = [
    ...(maxEstimatedCost !== undefined ? [`an estimated cost above ${maxEstimatedCost.toLocaleString("en-US")} (EXPLAIN's Total Cost)`] : []),
    ...(maxEstimatedRows !== undefined ? [`more than ${maxEstimatedRows.toLocaleString("en-US")} estimated rows (EXPLAIN's Plan Rows)`] : []),
  ];
  return parts.length
    ? [`Statements (reads and writes the planner can estimate) with ${parts.join(" or ")} are refused before they run; narrow such queries (WHERE, joins on keys, LIMIT).`]
    : [];
}

const perDatabase = z.object({
  name: z.string().describe("The `database` argument naming it"),
  allows: linkAllowanceSchema,
  summary: z.string(),
  rowFilters: z.array(z.object({ table: z.string(), description: z.string(), attributes: z.array(z.string()), shown: z.boolean() })),
  maskedColumns: z.array(z.object({ table: z.string(), column: z.string(), mask: z.enum(MASK_KINDS), description: z.string() })),
  costLimits: z.object({ maxEstimatedCost: z.number().optional(), maxEstimatedRows: z.number().optional() }),
  grants: z.array(z.object({ grantId: z.string(), table: z.string(), access: z.enum(["read", "write", "admin"]), until: z.string() })),
});

const output = z.object({
  allows: linkAllowanceSchema,
  maxResultBytes: z.number().int().describe("Results are also cut at this many bytes per call"),
  summary: z.string().describe("The same in plain words, with hidden columns, row filters and masks"),
  rowFilters: z
    .array(
      z.object({
        table: z.string(),
        description: z.string().describe("Which rows a statement sees and writes, in words; the member's values are never shown"),
        attributes: z.array(z.string()).describe("Member attributes the filter compares with (names only)"),
        shown: z.boolean().describe("false: the filter mentions something this link cannot see, so only its existence is said"),
      }),
    )
    .describe("Tables whose rows are filtered for this caller: reads see only those rows, writes may not leave them"),
  maskedColumns: z
    .array(z.object({ table: z.string(), column: z.string(), mask: z.enum(MASK_KINDS), description: z.string() }))
    .describe("Columns whose values come back masked; filters, joins and GROUP BY on them operate on the masked value"),
  costLimits: z
    .object({ maxEstimatedCost: z.number().optional(), maxEstimatedRows: z.number().optional() })
    .describe("Reads whose planner estimate (EXPLAIN's Total Cost / Plan Rows of the top node) exceeds these are refused before they run; {} when none"),
  grants: z
    .array(z.object({ grantId: z.string(), table: z.string(), access: z.enum(["read", "write", "admin"]), until: z.string().describe("ISO 8601; the grant ends exactly then") }))
    .describe("Time-boxed access granted to this caller (request_access), in force now and already included in `allows`"),
  pendingRequests: z
    .array(
      z.object({
        grantId: z.string(),
        table: z.string(),
        access: z.enum(["read", "write", "admin"]),
        minutes: z.number().int(),
        requestExpiresAt: z.string().describe("ISO 8601; the request expires then if nobody decides"),
      }),
    )
    .describe("This caller's access requests still waiting for an approver"),
  databases: z.array(perDatabase).optional().describe("Multi-database links: each database's permissions (the top-level fields are the first's, or the named one's)"),
});

export const getPermissionsTool: TypedTool<typeof input> = {
  name: "get_permissions",
  title: () => "What this link may do",
  description: () =>
    "This link's permissions in plain words and as data: access per table, hidden columns, row filters and masked columns, row limit and statement timeout, and your time-boxed grants and pending access requests (request_access).",
  input,
  output,
  annotations: () => ({ readOnlyHint: true, idempotentHint: true, openWorldHint: false }),
  async run(_args, ctx, services) {
    const now = Date.now();
    const pendingRequests = ctx.principal.userId
      ? (await listAccessGrants(services.metadata, { teamId: ctx.link.teamId, linkId: ctx.link.id, userId: ctx.principal.userId, status: ["pending"], limit: 50 }))
          .filter((g) => g.requestExpiresAt.getTime() > now)
          .map((g) => ({ grantId: g.id, table: g.tableKey, access: g.access, minutes: g.minutes, requestExpiresAt: g.requestExpiresAt.toISOString() }))
      : [];
    // Issue 17: a multi-database link without `database` is described database by database (each its
    // own scope, grants and limits); the top-level fields are then the first database's.
    const records = isMultiDatabase(ctx.link) && ctx.databaseNamed === undefined ? linkDatabases(ctx.link) : [ctx.link];
    const parts = await Promise.all(records.map((record) => describeRecord(services, record, now)));
    const first = parts[0]!;
    const waiting = pendingRequests.map((r) =>
      escapeUnsafe(`Waiting for an approver: ${r.access} on ${r.table} for ${r.minutes} minutes (request ${r.grantId}, expires ${r.requestExpiresAt}).`),
    );
    const tail = [`Results are also cut at ${Math.round(services.maxResultBytes / 1024)} KiB per call.`, "One statement per call. Reads run in a read-only transaction."];
    const labelled = isMultiDatabase(ctx.link);
    // A single-database link reads exactly as before: scope, grants, pending requests, cost limits.
    const summary = (
      labelled
        ? [
            ...parts.map((p, i) => `=== database ${JSON.stringify(records[i]!.databaseName)} (the "database" argument) ===\n${p.summary}`),
            ...waiting,
            ...tail,
          ]
        : [first.lines.scope, ...first.lines.grants, ...waiting, ...first.lines.cost, ...tail]
    ).join("\n");
    const { summary: _summary, lines: _lines, ...firstData } = first;
    return {
      kind: "ok",
      data: {
        ...firstData,
        maxResultBytes: services.maxResultBytes,
        summary,
        pendingRequests,
        ...(labelled ? { databases: parts.map(({ lines: _lines, ...p }, i) => ({ name: records[i]!.databaseName ?? "", ...p })) } : {}),
      },
      text: summary,
      audit: { verdict: "allowed", bytes: Buffer.byteLength(summary) },
    };
  },
};

/** One database's permissions: its scope in words and as data, with the caller's grants on it. */
async function describeRecord(services: Services, link: LinkRecord, now: number) {
  const catalog = await services.catalogFor(link);
  const governance = describeGovernance(link.scope, catalog);
  // Applied grants only (the caller's effective record): a blocked or ended one is not shown as in force.
  const grants = (link.grants ?? [])
    .filter((g) => g.expiresAt > now)
    .map((g) => ({ grantId: g.id, table: g.tableKey, access: g.access, until: new Date(g.expiresAt).toISOString() }));
  const lines = {
    scope: escapeNames(describeScope(link.scope, catalog), link.scope),
    grants: grants.map((g) => escapeUnsafe(`Granted to you for a while: ${g.access} on ${g.table} until ${g.until} (already included above).`)),
    cost: costLimitLines(link.scope),
  };
  return {
    lines,
    allows: linkAllowance(link),
    summary: [lines.scope, ...lines.grants, ...lines.cost].join("\n"),
    rowFilters: governance.rowFilters,
    maskedColumns: governance.maskedColumns.map(({ table, column, mask, description }) => ({ table, column, mask, description })),
    costLimits: costLimitsOf(link.scope),
    grants,
  };
}
