import { z } from "zod";

export const ACCESS_LEVELS = ["none", "read", "write", "admin"] as const;
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

const accessSchema = z.enum(ACCESS_LEVELS, {
  error: (issue) => `unknown access level ${JSON.stringify(issue.input)}: expected one of none, read, write, admin`,
});

const identifier = z
  .string()
  .min(1, "must not be empty")
  .max(63, "PostgreSQL names are at most 63 bytes")
  .refine((s) => !s.includes("\0"), "must not contain NUL");

/**
 * How a masked column's value leaves the database (the mask is applied in SQL, below everything the
 * statement does with the column): `redact` → `***` (NULL for non-text columns), `partial` → first and
 * last character, `email` → `***@domain`, `last4` → `***` + last four characters, `hash` → a keyed,
 * stable hash per link (`h:` + 16 hex), so values can be counted and grouped but not reversed.
 */
export const MASK_KINDS = ["redact", "partial", "email", "last4", "hash"] as const;
export type MaskKind = (typeof MASK_KINDS)[number];

const maskKindSchema = z.enum(MASK_KINDS, {
  error: (issue) => `unknown mask ${JSON.stringify(issue.input)}: expected one of ${MASK_KINDS.join(", ")}`,
});

/**
 * Placeholders a row filter may use; each is bound as a query parameter at call time, never spliced
 * into the SQL text. `member.attr.NAME` are attributes an admin sets per member on the link.
 */
/**
 * Who decides before a write runs (issue 15), per table or for the whole link: `writes` — a lead
 * approves every write; `destructive` — a lead approves DELETE, an UPDATE whose WHERE narrows by no
 * column of the table, MERGE that updates or deletes, INSERT … ON CONFLICT DO UPDATE, TRUNCATE, DDL and
 * code whose writes cannot be listed (scope/approval.ts DESTRUCTIVE_WORDS; other writes run); `confirm` — the caller confirms in their own AI client (or in
 * the dashboard). The statement is dry-run for a preview and stored as a pending write request.
 */
export const APPROVAL_MODES = ["writes", "destructive", "confirm"] as const;
export type ApprovalMode = (typeof APPROVAL_MODES)[number];

const approvalSchema = z.enum(APPROVAL_MODES, {
  error: (issue) => `unknown approval ${JSON.stringify(issue.input)}: expected one of ${APPROVAL_MODES.join(", ")} (or leave approval out for none)`,
});

export const DEFAULT_APPROVAL_EXPIRY_MINUTES = 60;

/** How a link's write requests are decided: who may approve their own, and how long a request waits. */
const approvalOptionsSchema = z.strictObject({
  /** Whether the member who made a request may approve it (default: nobody approves their own). */
  selfApproval: z.boolean().default(false),
  /** Minutes a pending request waits for a decision, and an approved one for its execution. */
  expiresAfterMinutes: z.number().int().min(1).max(10_080).default(DEFAULT_APPROVAL_EXPIRY_MINUTES),
});

export const ROW_FILTER_PLACEHOLDER = /\{\{\s*(member\.id|member\.email|key\.id|link\.id|team\.id|member\.attr\.[a-z][a-z0-9_]{0,62})\s*\}\}/g;
export const MEMBER_ATTRIBUTE_NAME = /^[a-z][a-z0-9_]{0,62}$/;

const tableRuleSchema = z.strictObject({
  access: accessSchema.optional(),
  hiddenColumns: z.array(identifier).optional(),
  /**
   * A SQL boolean expression over this table's columns; only rows for which it is true can be read,
   * updated or deleted, and no write may produce a row for which it is not. Shape only here: the SQL
   * is parsed and checked against the catalog by validateScopeAgainstCatalog (policy main export).
   */
  rowFilter: z.string().trim().min(1, "must not be empty; leave rowFilter out for no filter").max(4096, "at most 4096 characters").refine((s) => !s.includes("\0"), "must not contain NUL").optional(),
  maskedColumns: z.record(identifier, maskKindSchema).optional(),
  approval: approvalSchema.optional(),
});

export const DEFAULT_LIMITS = { maxRows: 1000, statementTimeoutMs: 15000 } as const;

const limitsSchema = z.strictObject({
  maxRows: z.number().int().min(1).max(1_000_000).default(DEFAULT_LIMITS.maxRows),
  statementTimeoutMs: z.number().int().min(100).max(3_600_000).default(DEFAULT_LIMITS.statementTimeoutMs),
  /** Cost gate: a read whose planner estimate (EXPLAIN total cost) exceeds this is refused before it runs. */
  maxEstimatedCost: z.number().positive().max(1e15).optional(),
  /** Cost gate: a read whose planner row estimate exceeds this is refused before it runs. */
  maxEstimatedRows: z.number().int().positive().max(1e15).optional(),
});

/**
 * A table key is `table` (schema public) or `schema.table`. Names are taken literally, as stored in
 * the catalog (no SQL case folding): `"Orders"` in a key means the table whose name is `Orders`.
 */
export const TABLE_KEY_PATTERN = /^[^.\s"]+(\.[^.\s"]+)?$/;

export function splitTableKey(key: string): { schema: string; name: string } {
  const dot = key.indexOf(".");
  return dot < 0 ? { schema: "public", name: key } : { schema: key.slice(0, dot), name: key.slice(dot + 1) };
}

export const scopeSchema = z
  .strictObject({
    access: accessSchema.default("read"),
    schemas: z.array(identifier).min(1, "list at least one schema, or leave schemas out for every schema").optional(),
    tables: z.record(z.string(), tableRuleSchema).default({}),
    limits: limitsSchema.default({ ...DEFAULT_LIMITS }),
    /** Link-level approval: applies to every table without its own `approval`. */
    approval: approvalSchema.optional(),
    /** Absent: nobody approves their own request; requests expire after DEFAULT_APPROVAL_EXPIRY_MINUTES. */
    approvalOptions: approvalOptionsSchema.optional(),
  })
  .superRefine((scope, ctx) => {
    const seenSchemas = new Set<string>();
    for (const [i, s] of (scope.schemas ?? []).entries()) {
      if (seenSchemas.has(s)) ctx.addIssue({ code: "custom", path: ["schemas", i], message: `schema "${s}" is listed twice` });
      if (s === "pg_catalog" || s === "information_schema" || s.startsWith("pg_"))
        ctx.addIssue({ code: "custom", path: ["schemas", i], message: `"${s}" is a system schema; system catalogs are governed by the scope's rules, not listed here` });
      seenSchemas.add(s);
    }
    const canonical = new Map<string, string>();
    for (const [key, rule] of Object.entries(scope.tables)) {
      if (!TABLE_KEY_PATTERN.test(key)) {
        ctx.addIssue({
          code: "custom",
          path: ["tables", key],
          message: `table key "${key}" must be "table" (schema public) or "schema.table", without quotes or spaces`,
        });
        continue;
      }
      const { schema, name } = splitTableKey(key);
      const full = `${schema}.${name}`;
      const previous = canonical.get(full);
      if (previous !== undefined)
        ctx.addIssue({ code: "custom", path: ["tables", key], message: `table key "${key}" names the same table as "${previous}"` });
      canonical.set(full, key);
      if (scope.schemas && !scope.schemas.includes(schema))
        ctx.addIssue({
          code: "custom",
          path: ["tables", key],
          message: `table "${full}" is in schema "${schema}", which is not in schemas (${scope.schemas.join(", ")})`,
        });
      const access = rule.access ?? scope.access;
      if (rule.hiddenColumns && rule.hiddenColumns.length > 0 && access === "none")
        ctx.addIssue({
          code: "custom",
          path: ["tables", key, "hiddenColumns"],
          message: `table "${full}" is hidden (access none), so hiding some of its columns means nothing; remove hiddenColumns or give the table access`,
        });
      const seenColumns = new Set<string>();
      for (const [i, column] of (rule.hiddenColumns ?? []).entries()) {
        if (seenColumns.has(column))
          ctx.addIssue({ code: "custom", path: ["tables", key, "hiddenColumns", i], message: `column "${column}" is listed twice` });
        seenColumns.add(column);
      }
      if (access === "none" && (rule.rowFilter !== undefined || Object.keys(rule.maskedColumns ?? {}).length > 0))
        ctx.addIssue({
          code: "custom",
          path: ["tables", key, rule.rowFilter !== undefined ? "rowFilter" : "maskedColumns"],
          message: `table "${full}" is hidden (access none), so a row filter or masks on it mean nothing; remove them or give the table access`,
        });
      if (rule.approval !== undefined && (access === "none" || access === "read"))
        ctx.addIssue({
          code: "custom",
          path: ["tables", key, "approval"],
          message: `table "${full}" has access ${access}, so nothing on it is written and approval means nothing; give it write or admin access, or remove approval`,
        });
      for (const column of Object.keys(rule.maskedColumns ?? {})) {
        if (seenColumns.has(column))
          ctx.addIssue({
            code: "custom",
            path: ["tables", key, "maskedColumns", column],
            message: `column "${column}" is both hidden and masked; a hidden column is never shown, so remove one of the two`,
          });
      }
    }
  });

export type Scope = z.output<typeof scopeSchema>;
export type ScopeInput = z.input<typeof scopeSchema>;
export type TableRule = z.output<typeof tableRuleSchema>;

/** Whether a table rule governs rows or values (the rewrite stage substitutes every reference to it). */
export function isGoverned(rule: TableRule | undefined): boolean {
  return !!rule && (rule.rowFilter !== undefined || Object.keys(rule.maskedColumns ?? {}).length > 0);
}

export interface ScopeError {
  path: string;
  message: string;
}

export type ParseScopeResult = { ok: true; scope: Scope } | { ok: false; errors: ScopeError[] };

function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const part of path) {
    if (typeof part === "number") out += `[${part}]`;
    else if (typeof part === "string" && /^[A-Za-z_][A-Za-z0-9_]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(String(part))}]`;
  }
  return out || "(document)";
}

/** Validates a scope document (object or JSON text) and applies defaults. */
export function parseScope(input: unknown): ParseScopeResult {
  let value = input;
  if (typeof input === "string") {
    try {
      value = JSON.parse(input);
    } catch (error) {
      return { ok: false, errors: [{ path: "(document)", message: `not valid JSON: ${(error as Error).message}` }] };
    }
  }
  const result = scopeSchema.safeParse(value);
  if (result.success) return { ok: true, scope: result.data };
  return {
    ok: false,
    errors: result.error.issues.map((issue) => {
      let message = issue.message;
      if (issue.code === "unrecognized_keys") message = `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
      return { path: formatPath(issue.path), message };
    }),
  };
}
