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

const tableRuleSchema = z.strictObject({
  access: accessSchema.optional(),
  hiddenColumns: z.array(identifier).optional(),
});

export const DEFAULT_LIMITS = { maxRows: 1000, statementTimeoutMs: 15000 } as const;

const limitsSchema = z.strictObject({
  maxRows: z.number().int().min(1).max(1_000_000).default(DEFAULT_LIMITS.maxRows),
  statementTimeoutMs: z.number().int().min(100).max(3_600_000).default(DEFAULT_LIMITS.statementTimeoutMs),
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
    }
  });

export type Scope = z.output<typeof scopeSchema>;
export type ScopeInput = z.input<typeof scopeSchema>;
export type TableRule = z.output<typeof tableRuleSchema>;

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
