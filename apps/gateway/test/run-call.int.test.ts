import { randomUUID } from "node:crypto";
import { Ajv } from "ajv";
import { Ajv2020 } from "ajv/dist/2020.js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { UnknownToolError, type CallOutcome } from "../src/calls/call-outcome.js";
import { structuredContentOf } from "../src/calls/outcome-schema.js";
import { runCall } from "../src/calls/run-call.js";
import type { CallContext, LinkRecord } from "../src/context.js";
import type { Gateway } from "../src/gateway.js";
import { LinkStore } from "../src/links/link-store.js";
import { toolsFor } from "../src/mcp/tool-catalog.js";
import { GatewayWorld, auditEvents, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * runCall against a real gateway's services and a real Chinook target: every tool's outcomes (ok,
 * refused, failed) validate against the outputSchema the catalog lists, execute_sql's typed data,
 * step-up refusals for OAuth scopes, unknown tools, and exactly one audit event per call.
 */
let world: GatewayWorld;
let gateway: Gateway;
let metadata: pg.Pool;
let store: LinkStore;
const links: Record<string, LinkRecord> = {};
const fixtures: Record<string, LinkFixture> = {};

const SCOPES = {
  read: { access: "read", schemas: ["public"], tables: { employee: { access: "none" } } },
  write: { access: "read", schemas: ["public"], tables: { playlist: { access: "write" } } },
  admin: { access: "admin", schemas: ["public"] },
  small: { access: "read", schemas: ["public"], limits: { maxRows: 5, statementTimeoutMs: 2000 } },
} as const;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const target = new pg.Client({ connectionString: world.target.url });
  await target.connect();
  await target.query("CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy'); CREATE TABLE moods (id int PRIMARY KEY, m mood); INSERT INTO moods VALUES (1, 'happy')");
  await target.end();
  ({ gateway } = await world.startGateway());
  metadata = new pg.Pool({ connectionString: world.meta.url, max: 2 });
  store = new LinkStore(metadata, 60_000, gateway.logger);
  for (const [kind, scope] of Object.entries(SCOPES)) {
    fixtures[kind] = await world.addLink(scope);
    links[kind] = (await store.get(fixtures[kind].linkId))!;
  }
});
afterAll(async () => {
  await metadata?.end();
  await world?.close();
});

function ctxFor(kind: keyof typeof SCOPES, grantedScopes: string[] | null = null, extra: Partial<CallContext> = {}): CallContext {
  const link = links[kind]!;
  return {
    requestId: randomUUID(),
    principal: {
      kind: grantedScopes ? "oauth" : "api_key",
      teamId: link.teamId,
      linkId: link.id,
      userId: world.userId,
      apiKeyId: grantedScopes ? null : fixtures[kind]!.apiKeyId,
      oauthClientId: grantedScopes ? "https://client.example/metadata.json" : null,
      subject: "test",
      grantedScopes,
      email: null,
      attributes: {},
    },
    link,
    clientName: "run-call-test",
    clientVersion: "1.2.3",
    protocolVersion: "2026-07-28",
    traceId: null,
    sourceIp: "127.0.0.1",
    ...extra,
  };
}

const ajv07 = new Ajv({ strict: false, validateSchema: false, allErrors: true });
const ajv2020 = new Ajv2020({ strict: false, allErrors: true });

function expectValid(kind: keyof typeof SCOPES, tool: string, outcome: CallOutcome): void {
  const listed = toolsFor(links[kind]!).find((t) => t.name === tool)!;
  const structured = JSON.parse(JSON.stringify(structuredContentOf(outcome)));
  for (const [mode, ajv] of [["draft-07", ajv07], ["2020-12", ajv2020]] as const) {
    const validate = ajv.compile(listed.outputSchema);
    expect(validate(structured), `${tool} ${outcome.kind} (${mode}): ${JSON.stringify(validate.errors)} ${JSON.stringify(structured).slice(0, 300)}`).toBe(true);
  }
}

describe("every outcome of every tool matches its outputSchema", () => {
  const cases: [keyof typeof SCOPES, string, unknown, CallOutcome["kind"]][] = [
    ["read", "get_schema", {}, "ok"],
    ["read", "get_schema", { schema: 5 }, "failed"],
    ["read", "list_tables", {}, "ok"],
    ["read", "list_tables", { schema: 5 }, "failed"],
    ["read", "describe_table", { table: "track" }, "ok"],
    ["read", "describe_table", { table: "employee" }, "failed"],
    ["read", "describe_table", {}, "failed"],
    ["read", "execute_sql", { sql: "SELECT track_id, name, unit_price FROM track ORDER BY track_id LIMIT 3" }, "ok"],
    ["read", "execute_sql", { sql: "DELETE FROM track" }, "refused"],
    ["read", "execute_sql", { sql: "SELECT 1/0" }, "failed"],
    ["read", "execute_sql", { sql: "SELECT $1::int", params: [{ nested: [1] }] }, "failed"],
    ["read", "execute_sql", {}, "failed"],
    ["write", "execute_sql", { sql: "INSERT INTO playlist (playlist_id, name) VALUES (7001, 'outcome test')" }, "ok"],
    ["admin", "execute_sql", { sql: "CREATE TABLE outcome_ddl (id int)" }, "ok"],
    ["read", "explain_query", { sql: "SELECT * FROM album WHERE album_id = 1" }, "ok"],
    ["read", "explain_query", { sql: "UPDATE album SET title = 'x'", analyze: true }, "refused"],
    ["read", "explain_query", { sql: "SELECT 1/0", analyze: true }, "failed"],
    ["read", "get_permissions", {}, "ok"],
    ["read", "get_permissions", "not an object", "failed"],
    ["read", "search_objects", { query: "track" }, "ok"],
    ["read", "search_objects", { query: "" }, "failed"],
  ];
  test.each(cases)("%s link: %s %j → %s", async (kind, tool, args, expected) => {
    const outcome = await runCall(gateway.services, ctxFor(kind), tool, args);
    expect(outcome.kind, JSON.stringify(outcome)).toBe(expected);
    expectValid(kind, tool, outcome);
  });
});

describe("execute_sql typed data", () => {
  test("columns carry PostgreSQL type names (built-in and looked up), rows type-faithful", async () => {
    const outcome = await runCall(gateway.services, ctxFor("read"), "execute_sql", {
      sql: "SELECT i.invoice_id, i.total, i.invoice_date, 9007199254740993::int8 AS big, now()::timestamptz AS at, m.m, ARRAY[1,2]::int4[] AS arr FROM invoice i, moods m ORDER BY i.invoice_id LIMIT 1",
    });
    expect(outcome.kind).toBe("ok");
    const data = (outcome as Extract<CallOutcome, { kind: "ok" }>).data as { columns: { name: string; type: string }[]; rows: unknown[][] };
    expect(data.columns).toEqual([
      { name: "invoice_id", type: "integer" },
      { name: "total", type: "numeric" },
      { name: "invoice_date", type: "timestamp without time zone" },
      { name: "big", type: "bigint" },
      { name: "at", type: "timestamp with time zone" },
      { name: "m", type: "mood" },
      { name: "arr", type: "integer[]" },
    ]);
    expect(data.rows[0]!.slice(0, 4)).toEqual([1, "1.98", "2021-01-01T00:00:00", "9007199254740993"]);
    expect(data.rows[0]![5]).toBe("happy");
    expect(data.rows[0]![6]).toEqual([1, 2]);
  });

  test("truncation says by what and at which limit", async () => {
    const outcome = (await runCall(gateway.services, ctxFor("small"), "execute_sql", { sql: "SELECT track_id FROM track ORDER BY track_id" })) as Extract<CallOutcome, { kind: "ok" }>;
    expect(outcome.data).toMatchObject({ rowCount: 5, truncated: { value: true, by: "rows", limit: 5 }, statementClass: "select" });
    // Cut at the row limit, the statement never completed: the wrapper's ROLLBACK tag is not its command.
    expect(outcome.data.command).toBeUndefined();
    expect((outcome.data.truncated as { note: string }).note).toMatch(/at most 5 rows per call/);
  });

  test("statement class, command and affected rows for DML and DDL", async () => {
    const run = async (kind: keyof typeof SCOPES, sql: string) => ((await runCall(gateway.services, ctxFor(kind), "execute_sql", { sql })) as Extract<CallOutcome, { kind: "ok" }>).data;
    expect(await run("write", "INSERT INTO playlist (playlist_id, name) VALUES (7101, 'a'), (7102, 'b')")).toMatchObject({ statementClass: "insert", command: "INSERT", affected: 2, rowCount: 0, columns: [] });
    expect(await run("write", "UPDATE playlist SET name = 'c' WHERE playlist_id IN (7101, 7102) RETURNING playlist_id")).toMatchObject({ statementClass: "update", affected: 2, rowCount: 2 });
    expect(await run("write", "DELETE FROM playlist WHERE playlist_id = 7101")).toMatchObject({ statementClass: "delete", affected: 1 });
    const ddl = await run("admin", "CREATE TABLE typed_ddl (id int)");
    expect(ddl).toMatchObject({ statementClass: "ddl", command: "CREATE" });
    expect(ddl).not.toHaveProperty("affected");
    expect(await run("read", "EXPLAIN SELECT 1")).toMatchObject({ statementClass: "explain" });
  });

  test("refusals carry the rule, statement index, object, needed access and what the link allows (hidden tables left out)", async () => {
    const outcome = await runCall(gateway.services, ctxFor("write"), "execute_sql", { sql: "UPDATE album SET title = 'x'" });
    expect(outcome.kind).toBe("refused");
    const { refusal } = outcome as Extract<CallOutcome, { kind: "refused" }>;
    expect(refusal).toMatchObject({ ruleId: "write_not_permitted", statementIndex: 1, object: "public.album", needs: "write", allows: { access: "read", tables: { "public.playlist": "write" }, maxRows: 1000 } });
    expect(refusal.reason).toMatch(/\[rule write_not_permitted\]/);
    const hidden = await runCall(gateway.services, ctxFor("read"), "execute_sql", { sql: "DELETE FROM track" });
    expect(JSON.stringify(hidden)).not.toContain("employee");
  });
});

describe("step-up: the link allows it, the token's scopes do not", () => {
  const playlistRows = async (id: number) => {
    const c = new pg.Client({ connectionString: world.target.url });
    await c.connect();
    try {
      return (await c.query("SELECT 1 FROM playlist WHERE playlist_id = $1", [id])).rowCount;
    } finally {
      await c.end();
    }
  };

  test("a write with an mcp:read token is refused before running, with every scope to ask for", async () => {
    const ctx = ctxFor("write", ["mcp:read"]);
    const read = await runCall(gateway.services, ctx, "execute_sql", { sql: "SELECT count(*) FROM playlist" });
    expect(read.kind).toBe("ok");
    expect(ctx.insufficientScope).toBeUndefined();
    const write = await runCall(gateway.services, ctx, "execute_sql", { sql: "INSERT INTO playlist (playlist_id, name) VALUES (7201, 'step-up')" });
    expect(write.kind).toBe("refused");
    const { refusal } = write as Extract<CallOutcome, { kind: "refused" }>;
    expect(refusal).toMatchObject({ ruleId: "insufficient_scope", needs: "write", stepUpScopes: ["mcp:read", "mcp:write"] });
    expect(ctx.insufficientScope).toEqual(["mcp:read", "mcp:write"]);
    expect(await playlistRows(7201)).toBe(0);
    expectValid("write", "execute_sql", write);
  });

  test("a plan of a write is a read (nothing runs); DDL needs mcp:admin", async () => {
    const explain = await runCall(gateway.services, ctxFor("write", ["mcp:read"]), "explain_query", { sql: "DELETE FROM playlist WHERE playlist_id = 1" });
    expect(explain.kind).toBe("ok");
    const ctx = ctxFor("admin", ["mcp:read", "mcp:write"]);
    const ddl = await runCall(gateway.services, ctx, "execute_sql", { sql: "CREATE TABLE step_up_ddl (id int)" });
    expect((ddl as Extract<CallOutcome, { kind: "refused" }>).refusal).toMatchObject({ ruleId: "insufficient_scope", needs: "admin", stepUpScopes: ["mcp:read", "mcp:write", "mcp:admin"] });
  });

  test("the legacy mcp scope covers everything the link allows; what the link refuses stays the link's refusal", async () => {
    const ok = await runCall(gateway.services, ctxFor("write", ["mcp"]), "execute_sql", { sql: "INSERT INTO playlist (playlist_id, name) VALUES (7202, 'legacy scope')" });
    expect(ok.kind).toBe("ok");
    expect(await playlistRows(7202)).toBe(1);
    const ctx = ctxFor("read", ["mcp:read"]);
    const linkRefusal = await runCall(gateway.services, ctx, "execute_sql", { sql: "DELETE FROM track" });
    expect((linkRefusal as Extract<CallOutcome, { kind: "refused" }>).refusal.ruleId).toBe("write_not_permitted");
    expect(ctx.insufficientScope).toBeUndefined();
  });
});

describe("audit", () => {
  test("one event per call with client, revision and trace id; unknown tools audited, then thrown", async () => {
    const marker = `marker_${randomUUID().slice(0, 8)}`;
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    await runCall(gateway.services, ctxFor("read", null, { traceId }), "execute_sql", { sql: `SELECT '${marker}' AS m` });
    await runCall(gateway.services, ctxFor("read", null, { traceId: "not-a-trace" }), "execute_sql", { sql: `DELETE FROM track WHERE name = '${marker}'` });
    await expect(runCall(gateway.services, ctxFor("read"), `no_such_tool_${marker}`, {})).rejects.toBeInstanceOf(UnknownToolError);
    const events = await waitFor(
      () => auditEvents(world),
      (es) => es.filter((e) => e.sql?.includes(marker) || e.tool?.includes(marker)).length >= 3,
    );
    const mine = events.filter((e) => e.sql?.includes(marker) || e.tool?.includes(marker));
    expect(mine).toHaveLength(3);
    const [ok, blocked, unknown] = [mine.find((e) => e.verdict === "allowed")!, mine.find((e) => e.verdict === "blocked")!, mine.find((e) => e.tool?.includes(marker))!];
    expect(ok).toMatchObject({ kind: "tool_call", tool: "execute_sql", clientName: "run-call-test", clientVersion: "1.2.3", protocolVersion: "2026-07-28", traceId, linkId: links.read!.id, rows: 1 });
    expect(blocked).toMatchObject({ ruleId: "write_not_permitted", traceId: null });
    expect(unknown).toMatchObject({ verdict: "error", error: expect.stringContaining("unknown tool") });
  });
});
