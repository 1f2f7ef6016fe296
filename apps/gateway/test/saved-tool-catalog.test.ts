import { Ajv2020 } from "ajv/dist/2020.js";
import { BUILT_IN_TOOL_NAMES, savedToolSchema } from "@portcullis/db/operations";
import { parseScope } from "@portcullis/policy";
import { describe, expect, test } from "vitest";
import type { LinkRecord, SavedToolRecord } from "../src/context.js";
import { toolsFor } from "../src/mcp/tool-catalog.js";
import { TOOLS, toolByName } from "../src/mcp/tools/index.js";
import { savedToolStatement } from "../src/mcp/tools/saved-tool.js";

/** Curated tools in the listing and the lookup (issue 17), on hand-built link records: no servers. */

// The connection the fixtures' tools were saved on (saved tools run only on their database's connection).
const CONNECTION = crypto.randomUUID();

function link(extra: Partial<LinkRecord> = {}): LinkRecord {
  const parsed = parseScope({ access: "read", tables: { employee: { access: "none" } } });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return { id: crypto.randomUUID(), teamId: crypto.randomUUID(), name: "fixture", status: "active", scope: parsed.scope, connection: { id: CONNECTION } as LinkRecord["connection"], ...extra };
}

function tool(name: string, parameters: SavedToolRecord["parameters"] = [], sql = "SELECT 1"): SavedToolRecord {
  return Object.freeze({ id: crypto.randomUUID(), name, title: null, description: `the ${name} tool`, sql, parameters, databaseName: null, connectionId: CONNECTION });
}

const typed = tool("typed", [
  { name: "s", type: "string", description: "a string", required: true },
  { name: "i", type: "integer", description: "an integer", required: true },
  { name: "n", type: "number", description: "", required: false },
  { name: "b", type: "boolean", description: "", required: false, default: true },
  { name: "d", type: "date", description: "", required: true },
  { name: "ts", type: "timestamp", description: "", required: false },
  { name: "u", type: "uuid", description: "", required: true },
]);

describe("saved tools in tools/list", () => {
  test("the db package's built-in names are the gateway's tools, in order", () => {
    expect([...BUILT_IN_TOOL_NAMES]).toEqual(TOOLS.map((t) => t.name));
    for (const name of BUILT_IN_TOOL_NAMES) expect(savedToolSchema.safeParse({ name, description: "x", sql: "SELECT 1" }).success, name).toBe(false);
    // Parameter names an argument object inherits would read as given when missing.
    for (const name of ["constructor", "database"])
      expect(savedToolSchema.safeParse({ name: "t", description: "x", sql: "SELECT $1::text", parameters: [{ name, type: "string" }] }).success, name).toBe(false);
  });

  test("enabled built-ins first (contract order), then saved tools by name; disabled ones absent", () => {
    const l = link({ disabledTools: ["execute_sql", "explain_query"], savedTools: [tool("zeta"), tool("alpha"), typed] });
    const names = toolsFor(l).map((t) => t.name);
    expect(names).toEqual([...TOOLS.map((t) => t.name).filter((n) => n !== "execute_sql" && n !== "explain_query"), "alpha", "typed", "zeta"]);
    expect(toolByName(l, "execute_sql")).toBeUndefined();
    expect(toolByName(l, "explain_query")).toBeUndefined();
    expect(toolByName(l, "alpha")?.name).toBe("alpha");
    expect(toolByName(l, "nope")).toBeUndefined();
  });

  test("a stored tool named like a built-in is never listed nor answers: the built-in does (or nothing, when disabled)", () => {
    const impostor = tool("execute_sql", [], "DELETE FROM track");
    const l = link({ savedTools: [impostor] });
    expect(toolsFor(l).filter((t) => t.name === "execute_sql")).toHaveLength(1);
    expect(toolByName(l, "execute_sql")).toBe(TOOLS.find((t) => t.name === "execute_sql"));
    const hidden = link({ disabledTools: ["execute_sql"], savedTools: [impostor] });
    expect(toolsFor(hidden).map((t) => t.name)).not.toContain("execute_sql");
    expect(toolByName(hidden, "execute_sql")).toBeUndefined();
  });

  test("typed inputSchema from the parameters (required vs optional/default), outputSchema = execute_sql's", () => {
    const l = link({ savedTools: [typed] });
    const tools = toolsFor(l);
    const listed = tools.find((t) => t.name === "typed")!;
    const execute = tools.find((t) => t.name === "execute_sql")!;
    expect(listed.outputSchema).toEqual(execute.outputSchema);
    const schema = listed.inputSchema as { properties: Record<string, { type?: string; format?: string; default?: unknown }>; required: string[] };
    expect(schema.properties.s!.type).toBe("string");
    expect(schema.properties.i!.type).toBe("integer");
    expect(schema.properties.n!.type).toBe("number");
    expect(schema.properties.b!.type).toBe("boolean");
    expect(schema.properties.b!.default).toBe(true);
    expect(schema.properties.d!.format).toBe("date");
    expect(schema.properties.ts!.format).toBe("date-time");
    expect(schema.properties.u!.format).toBe("uuid");
    expect([...schema.required].sort()).toEqual(["d", "i", "s", "u"]);
    expect(schema.properties.database).toBeUndefined();
    // What a 2020-12 client compiles accepts good arguments and rejects bad ones.
    const validate = new Ajv2020({ strict: false }).compile(listed.inputSchema);
    const good = { s: "x", i: 3, d: "2024-02-29", u: "0e9bc1c6-5b1c-4f2e-8d8e-3a1f0c9d2b7a" };
    expect(validate(good)).toBe(true);
    expect(validate({ ...good, i: "3" })).toBe(false);
    expect(validate({ ...good, i: 3.5 })).toBe(false);
    expect(validate({ ...good, d: "yesterday" })).toBe(false);
    // And the gateway's own parse (what decides) refuses the same and fills defaults and nulls.
    const input = toolByName(l, "typed")!.input;
    expect(input.safeParse({ ...good, i: "1; DROP TABLE x" }).success).toBe(false);
    expect(input.safeParse({ ...good, u: "' OR 1=1 --" }).success).toBe(false);
    expect(input.parse(good)).toMatchObject({ ...good, b: true });
    // A misspelt or unknown argument is refused, not dropped (the tool would run with the default).
    expect(input.safeParse({ ...good, ii: 5 }).success).toBe(false);
    expect(input.safeParse({ ...good, sql: "DROP TABLE x" }).success).toBe(false);
    expect(validate({ ...good, ii: 5 })).toBe(false);
  });

  test("the listing follows edits: a changed saved tool or disabled list lists anew; the same link record is cached", () => {
    const base = link({ savedTools: [tool("alpha")] });
    const first = toolsFor(base);
    expect(toolsFor(base)).toBe(first);
    const edited = { ...base, savedTools: [{ ...base.savedTools![0]!, description: "changed words" }] };
    expect(toolsFor(edited)).not.toBe(first);
    expect(toolsFor(edited).find((t) => t.name === "alpha")!.description).toContain("changed words");
    const disabled = { ...base, disabledTools: ["get_schema"] };
    expect(toolsFor(disabled).map((t) => t.name)).not.toContain("get_schema");
    expect(toolsFor(base).map((t) => t.name)).toContain("get_schema");
  });

  test("database: absent on a one-database link; an enum of the names on several, on built-ins only", () => {
    const saved = [{ ...tool("on_b"), databaseName: "b" }];
    const single = link({ databaseName: "main", savedTools: saved });
    expect(JSON.stringify(toolsFor(single).map((t) => t.inputSchema))).not.toContain('"database"');
    const first = link({ databaseName: "main", savedTools: saved });
    const second = { ...first, databaseName: "b" };
    const all = Object.freeze([first, second]);
    first.databases = all;
    second.databases = all;
    const listed = toolsFor(first);
    const execute = listed.find((t) => t.name === "execute_sql")!.inputSchema as { properties: Record<string, { enum?: string[] }> };
    expect(execute.properties.database!.enum).toEqual(["main", "b"]);
    const onB = listed.find((t) => t.name === "on_b")!.inputSchema as { properties: Record<string, unknown> };
    expect(onB.properties.database).toBeUndefined();
  });

  test("the statement a call runs: the saved text, arguments bound in parameter order, defaults and NULLs filled", () => {
    const l = link({ savedTools: [typed] });
    const args = { u: "0e9bc1c6-5b1c-4f2e-8d8e-3a1f0c9d2b7a", d: "2024-02-29", i: 7, s: "x'; DROP TABLE t; --" };
    expect(savedToolStatement(l, "typed", args)).toEqual({ sql: "SELECT 1", params: ["x'; DROP TABLE t; --", 7, null, true, "2024-02-29", null, "0e9bc1c6-5b1c-4f2e-8d8e-3a1f0c9d2b7a"] });
    // The call's database choice is not an argument of the tool; anything else it does not take is refused.
    expect(savedToolStatement(l, "typed", { ...args, database: "main" })).not.toBeNull();
    expect(savedToolStatement(l, "typed", { ...args, sql: "DELETE FROM t" })).toBeNull();
    expect(savedToolStatement(l, "typed", { ...args, i: "7" })).toBeNull();
    expect(savedToolStatement(l, "execute_sql", { sql: "SELECT 1" })).toBeNull();
    expect(savedToolStatement(link(), "typed", args)).toBeNull();
  });
});
