import { parseScope, type Scope, type ScopeInput } from "./schema.js";

export type PresetName = "read-only" | "read-write" | "full" | "custom";

export interface PresetOptions {
  /** read-write: tables ("table" or "schema.table") that may be written; the rest stay read-only. */
  writableTables?: string[];
  schemas?: string[];
  limits?: { maxRows?: number; statementTimeoutMs?: number };
  /** custom: the whole document (validated). */
  scope?: ScopeInput;
}

export const SCOPE_PRESETS: Record<PresetName, { label: string; description: string }> = {
  "read-only": { label: "Read only", description: "SELECT on every table; no writes, no schema changes." },
  "read-write": { label: "Read and write", description: "SELECT everywhere; INSERT/UPDATE/DELETE/MERGE on the chosen tables (all tables if none chosen)." },
  full: { label: "Full", description: "Read, write and DDL everywhere; still no server escape (files, programs, roles, ALTER SYSTEM)." },
  custom: { label: "Custom", description: "Any scope document: per-table access, hidden columns, row filters and masked columns." },
};

export function presetScope(name: PresetName, options: PresetOptions = {}): Scope {
  let doc: ScopeInput;
  const common = { ...(options.schemas ? { schemas: options.schemas } : {}), ...(options.limits ? { limits: options.limits } : {}) };
  switch (name) {
    case "read-only":
      doc = { access: "read", ...common };
      break;
    case "read-write":
      doc = options.writableTables?.length
        ? { access: "read", tables: Object.fromEntries(options.writableTables.map((t) => [t, { access: "write" as const }])), ...common }
        : { access: "write", ...common };
      break;
    case "full":
      doc = { access: "admin", ...common };
      break;
    case "custom":
      doc = { ...(options.scope ?? { access: "read" }), ...common };
      break;
  }
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(`invalid ${name} scope: ${parsed.errors.map((e) => `${e.path}: ${e.message}`).join("; ")}`);
  return parsed.scope;
}
