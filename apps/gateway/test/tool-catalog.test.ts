import { Ajv, type ValidateFunction } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import { parseScope } from "@portcullis/policy";
import { describe, expect, test } from "vitest";
import type { LinkRecord } from "../src/context.js";
import { structuredContentOf } from "../src/calls/outcome-schema.js";
import { linkAllowance } from "../src/calls/link-allowance.js";
import { toolsFor, type ListedTool } from "../src/mcp/tool-catalog.js";
import { TOOLS } from "../src/mcp/tools/index.js";

function link(scope: Record<string, unknown>, id = crypto.randomUUID()): LinkRecord {
  const parsed = parseScope(scope);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return { id, teamId: crypto.randomUUID(), name: "fixture", status: "active", scope: parsed.scope, connection: {} as LinkRecord["connection"] };
}

const readOnly = link({ access: "read", tables: { customer: { hiddenColumns: ["email"] }, employee: { access: "none" } } });
const writeOne = link({ access: "read", tables: { playlist: { access: "write" }, secrets: { access: "none" } } });
const writeMany = link({ access: "read", tables: Object.fromEntries(Array.from({ length: 13 }, (_, i) => [`t${String(i).padStart(2, "0")}`, { access: "write" }])) });
const admin = link({ access: "admin" });

const byName = (tools: ListedTool[]) => new Map(tools.map((t) => [t.name, t]));

// As the clients compile them: the 1.x SDK uses ajv's default (draft-07) instance with these options;
// 2.x clients and 2026-07-28 schemas are 2020-12.
const ajv07 = new Ajv({ strict: false, validateSchema: false, allErrors: true });
const ajv2020 = new Ajv2020({ strict: false, allErrors: true });

function validators(tool: ListedTool): [string, ValidateFunction][] {
  return [
    ["draft-07", ajv07.compile(tool.outputSchema)],
    ["2020-12", ajv2020.compile(tool.outputSchema)],
  ];
}

describe("tool catalog", () => {
  test("contract order, the same for every link", () => {
    const order = ["get_schema", "list_tables", "describe_table", "execute_sql", "explain_query", "get_permissions", "search_objects", "get_write_request", "request_access"];
    for (const l of [readOnly, writeOne, admin]) expect(toolsFor(l).map((t) => t.name).filter((n) => order.includes(n))).toEqual(order);
  });

  test("execute_sql annotations and title follow the scope", () => {
    const ro = byName(toolsFor(readOnly)).get("execute_sql")!;
    expect(ro.annotations).toMatchObject({ readOnlyHint: true, destructiveHint: false, openWorldHint: false });
    expect(ro.title).toBe("Run SQL (read-only)");
    expect(ro.description).toMatch(/read-only/);

    const w = byName(toolsFor(writeOne)).get("execute_sql")!;
    expect(w.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(w.title).toBe("Run SQL (reads; writes on 1 table)");
    expect(w.description).toContain("public.playlist");
    // A hidden table is never named, not even as "none".
    expect(JSON.stringify(toolsFor(writeOne))).not.toContain("secrets");
    expect(JSON.stringify(toolsFor(readOnly))).not.toContain("employee");

    const many = byName(toolsFor(writeMany)).get("execute_sql")!;
    expect(many.title).toBe("Run SQL (reads; writes on 13 tables)");
    expect(many.description).toContain("public.t09 and 3 more");
    expect(many.description).not.toContain("public.t10");

    const a = byName(toolsFor(admin)).get("execute_sql")!;
    expect(a.annotations).toMatchObject({ readOnlyHint: false, destructiveHint: true });
    expect(a.title).toBe("Run SQL (reads, writes, schema changes)");
  });

  test("schema tools are read-only and idempotent on every link", () => {
    for (const l of [readOnly, admin]) {
      const tools = byName(toolsFor(l));
      for (const name of ["get_schema", "list_tables", "describe_table", "explain_query", "get_permissions", "search_objects"])
        expect(tools.get(name)!.annotations, name).toMatchObject({ readOnlyHint: true, openWorldHint: false });
    }
  });

  test("input and output schemas are objects at the root, 2020-12, computed once", () => {
    const first = toolsFor(readOnly);
    const other = toolsFor(admin);
    for (const [i, tool] of first.entries()) {
      expect(tool.inputSchema.type, tool.name).toBe("object");
      expect(tool.outputSchema.type, tool.name).toBe("object");
      expect(tool.outputSchema.$schema, tool.name).toBe("https://json-schema.org/draft/2020-12/schema");
      expect(Array.isArray(tool.outputSchema.oneOf), tool.name).toBe(true);
      expect(other[i]!.outputSchema).toBe(tool.outputSchema);
    }
    // Cached per link and scope: the same list object until the scope changes.
    expect(toolsFor(readOnly)).toBe(first);
    const narrowed = { ...readOnly, scope: { ...readOnly.scope, access: "write" as const } };
    expect(toolsFor(narrowed)).not.toBe(first);
    expect(byName(toolsFor(narrowed)).get("execute_sql")!.annotations.readOnlyHint).toBe(false);
  });

  test("the refusal and failure arms of every tool validate in draft-07 and 2020-12 (1.x clients check them on isError)", () => {
    const refused = structuredContentOf({
      kind: "refused",
      refusal: { ruleId: "write_not_permitted", reason: "Statement 1: writes … [rule write_not_permitted]", statementIndex: 1, allows: linkAllowance(writeOne), stepUpScopes: ["mcp:read", "mcp:write"], needs: "write" },
      audit: { verdict: "blocked" },
    });
    const failed = structuredContentOf({ kind: "failed", failure: { code: "statement_error", message: "PostgreSQL error 42703", retryable: false }, audit: { verdict: "error" } });
    for (const tool of toolsFor(writeOne)) {
      for (const [mode, validate] of validators(tool)) {
        expect(validate(refused), `${tool.name} refused ${mode}: ${JSON.stringify(validate.errors)}`).toBe(true);
        expect(validate(failed), `${tool.name} failed ${mode}`).toBe(true);
        // Not a validator that accepts anything: wrong shapes fail.
        expect(validate({ status: "ok" }), `${tool.name} empty ok ${mode}`).toBe(false);
        expect(validate({ status: "refused", refusal: { ruleId: 1 } }), `${tool.name} bad refusal ${mode}`).toBe(false);
        expect(validate({ status: "failed", failure: { code: "nope", message: "", retryable: false } }), `${tool.name} bad code ${mode}`).toBe(false);
      }
    }
  });

  test("execute_sql's outputSchema covers the pending arm (issue 15); other tools' do not", () => {
    const preview = { command: "DELETE", affected: 3, table: "public.invoice", columns: ["invoice_id"], keyColumns: ["invoice_id"], before: [[1], [2], [3]], after: [], plan: [{ Plan: {} }], notes: [], durationMs: 4.2 };
    const pending = structuredContentOf({
      kind: "pending",
      data: { status: "pending_approval", requestId: crypto.randomUUID(), kind: "approval", preview, expiresAt: new Date().toISOString(), message: "public.invoice needs a lead's approval" },
      audit: { verdict: "blocked", ruleId: "approval_required" },
    });
    const tools = byName(toolsFor(writeOne));
    for (const [mode, validate] of validators(tools.get("execute_sql")!)) {
      expect(validate(pending), `pending ${mode}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(validate({ ...pending, kind: "later" }), `bad kind ${mode}`).toBe(false);
      expect(validate({ ...pending, preview: { ...preview, affected: "3" } }), `bad preview ${mode}`).toBe(false);
    }
    for (const [mode, validate] of validators(tools.get("explain_query")!)) expect(validate(pending), `explain_query ${mode}`).toBe(false);
    // Only links where a write needs a decision tell the model about the pending answer.
    const approving = link({ access: "read", tables: { playlist: { access: "write", approval: "writes" } } });
    expect(byName(toolsFor(approving)).get("execute_sql")!.description).toMatch(/pending_approval.*requestId/);
    expect(tools.get("execute_sql")!.description).not.toMatch(/pending_approval/);
  });

  test("every tool's definition names match the registry", () => {
    expect(new Set(TOOLS.map((t) => t.name)).size).toBe(TOOLS.length);
  });
});
