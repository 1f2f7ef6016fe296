import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { createLinkTool, decideWriteRequest, deleteLinkTool, listLinkTools, setLinkDisabledTools, updateLinkTool, type SavedToolInput, type SavedToolCheckDeps } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import { targetPolicyFromEnv } from "@portcullis/db/target";
import { withClient } from "@portcullis/db/testing";
import * as policy from "@portcullis/policy";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { GatewayWorld, auditEvents, connectClient, toolJson, toolText, waitFor, type LinkFixture, type SqlResult } from "./fixtures.js";

/**
 * Curated tools (issue 17 point 5) end to end: saved through the db operation (its save-time check
 * reads the real Chinook target), listed and called by the v2 client through a real gateway, audited.
 */

let world: GatewayWorld;
let gatewayUrl: string;
let link: LinkFixture;
let other: LinkFixture;
let client: ClientV2;

let deps: SavedToolCheckDeps;
const SCOPE = { access: "read", schemas: ["public"], tables: { employee: { access: "none" }, playlist: { access: "write" } } };

async function connect(url: string, key: string): Promise<ClientV2> {
  const c = new ClientV2({ name: "saved-tools", version: "2.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
  await c.connect(new TransportV2(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${key}` } } }));
  return c;
}

function save(on: LinkFixture, tool: SavedToolInput) {
  return createLinkTool(world.prisma, { teamId: on.teamId, linkId: on.linkId, createdById: on.userId, tool }, deps);
}

const targetRows = <T>(sql: string, values: unknown[] = []) => withClient(world.target.url, async (c) => (await c.query(sql, values)).rows as T[]);

/** The gateway hears of link edits by NOTIFY; the listing follows within moments. */
async function listedNames(): Promise<string[]> {
  return (await client.listTools()).tools.map((t) => t.name);
}

beforeAll(async () => {
  world = await GatewayWorld.create();
  deps = { policy, route: { policy: targetPolicyFromEnv({ TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true" }), keyring: getKeyring(world.secretKeys) } };
  gatewayUrl = (await world.startGateway()).url;
  link = await world.addLink(SCOPE, undefined, gatewayUrl);
  other = await world.addLink(SCOPE, undefined, gatewayUrl);
  await save(link, {
    name: "tracks_by_genre",
    title: "Tracks of a genre",
    description: "The first tracks of a genre shorter than a length",
    sql: "SELECT t.name, t.milliseconds FROM track t JOIN genre g ON g.genre_id = t.genre_id WHERE g.name = $1 AND t.milliseconds < $2 ORDER BY t.track_id LIMIT 3",
    parameters: [
      { name: "genre", type: "string", description: "the genre's name", required: true },
      { name: "shorter_than_ms", type: "integer", description: "a length in ms", required: false, default: 10_000_000 },
    ],
  });
  await save(link, {
    name: "genre_named",
    description: "The genre of this name",
    sql: "SELECT genre_id, name FROM genre WHERE name = $1",
    parameters: [{ name: "name", type: "string", description: "", required: true }],
  });
  await save(link, {
    name: "invoices_between",
    description: "How many invoices between two times, for a customer",
    sql: "SELECT count(*)::int AS n FROM invoice WHERE invoice_date >= $1 AND invoice_date < $2 AND customer_id = $3 AND $4::boolean",
    parameters: [
      { name: "from_day", type: "date", description: "", required: true },
      { name: "until", type: "timestamp", description: "", required: true },
      { name: "customer", type: "integer", description: "", required: true },
      { name: "really", type: "boolean", description: "", required: false, default: true },
    ],
  });
  await save(link, {
    name: "rename_playlist",
    description: "Renames a playlist",
    sql: "UPDATE playlist SET name = $2 WHERE playlist_id = $1 RETURNING playlist_id, name",
    parameters: [
      { name: "id", type: "integer", description: "", required: true },
      { name: "name", type: "string", description: "", required: true },
    ],
  });
  await save(other, { name: "other_only", description: "Only on the other link", sql: "SELECT 42 AS answer", parameters: [] });
  client = await connect(link.url, link.key);
  await waitFor(listedNames, (names) => names.includes("rename_playlist"));
});

afterAll(async () => {
  await client?.close().catch(() => {});
  await world?.close();
});

describe("listing and calling", () => {
  test("the v2 client lists the saved tools after the built-ins, typed, with execute_sql's outputSchema", async () => {
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names.slice(-4)).toEqual(["genre_named", "invoices_between", "rename_playlist", "tracks_by_genre"]);
    expect(names.indexOf("execute_sql")).toBeLessThan(names.indexOf("genre_named"));
    expect(names).not.toContain("other_only");
    const byName = new Map(tools.map((t) => [t.name, t]));
    const tracks = byName.get("tracks_by_genre")!;
    expect(tracks.title).toBe("Tracks of a genre");
    expect(tracks.outputSchema).toEqual(byName.get("execute_sql")!.outputSchema);
    const props = tracks.inputSchema.properties as Record<string, { type: string; default?: unknown }>;
    expect(props.genre!.type).toBe("string");
    expect(props.shorter_than_ms).toMatchObject({ type: "integer", default: 10_000_000 });
    expect(tracks.inputSchema.required).toEqual(["genre"]);
    const between = byName.get("invoices_between")!.inputSchema.properties as Record<string, { type: string; format?: string }>;
    expect(between.from_day).toMatchObject({ type: "string", format: "date" });
    expect(between.until).toMatchObject({ type: "string", format: "date-time" });
    expect(between.customer!.type).toBe("integer");
    expect(between.really!.type).toBe("boolean");
  });

  test("called with typed arguments, it returns the rows; the default applies; the audit row names the tool and its SQL", async () => {
    const result = await client.callTool({ name: "tracks_by_genre", arguments: { genre: "Jazz", shorter_than_ms: 200_000 } });
    const data = toolJson<SqlResult>(result);
    const expected = await targetRows<{ name: string; milliseconds: number }>(
      "SELECT t.name, t.milliseconds FROM track t JOIN genre g ON g.genre_id = t.genre_id WHERE g.name = 'Jazz' AND t.milliseconds < 200000 ORDER BY t.track_id LIMIT 3",
    );
    expect(expected.length).toBeGreaterThan(0);
    expect(data.status).toBe("ok");
    expect(data.rows).toEqual(expected.map((r) => [r.name, r.milliseconds]));
    // The text marks the rows as the database's (untrusted) data, as execute_sql's does.
    expect(toolText(result)).toMatch(/<untrusted-data-[0-9a-f-]+>/);
    const all = toolJson<SqlResult>(await client.callTool({ name: "tracks_by_genre", arguments: { genre: "Jazz" } }));
    expect(all.rowCount).toBe(3);
    const counted = toolJson<SqlResult>(await client.callTool({ name: "invoices_between", arguments: { from_day: "2000-01-01", until: "2100-01-01T00:00:00Z", customer: 1 } }));
    const n = (await targetRows<{ n: number }>("SELECT count(*)::int AS n FROM invoice WHERE customer_id = 1"))[0]!.n;
    expect(counted.rows).toEqual([[n]]);
    const events = await waitFor(
      () => auditEvents(world),
      (es) => es.some((e) => e.tool === "tracks_by_genre" && e.verdict === "allowed"),
    );
    const event = events.find((e) => e.tool === "tracks_by_genre")!;
    expect(event.sql).toContain("WHERE g.name = $1 AND t.milliseconds < $2");
    expect(event.sql).not.toContain("Jazz");
    expect(event.linkId).toBe(link.linkId);
  });

  test("a 2025-era client (1.x SDK, which validates results against outputSchema) lists and calls them the same way", async () => {
    const legacy = await connectClient(link.url, link.key, "saved-tools-legacy");
    try {
      const modern = (await client.listTools()).tools.map((t) => t.name);
      expect((await legacy.listTools()).tools.map((t) => t.name)).toEqual(modern);
      const ok = await legacy.callTool({ name: "genre_named", arguments: { name: "Jazz" } });
      expect(toolJson<SqlResult>(ok).rows).toEqual([[2, "Jazz"]]);
      const bad = await legacy.callTool({ name: "genre_named", arguments: { name: 5 } });
      expect(toolJson<{ failure: { code: string } }>(bad).failure.code).toBe("invalid_arguments");
    } finally {
      await legacy.close();
    }
  });

  test("parameters are bound, never spliced: injection text is only a value", async () => {
    const before = await targetRows<{ n: number }>("SELECT count(*)::int AS n FROM genre");
    for (const value of ["Rock'; DROP TABLE genre; --", "' OR 1=1 --", "1; DROP TABLE genre", "Rock' OR '1'='1"]) {
      const data = toolJson<SqlResult>(await client.callTool({ name: "genre_named", arguments: { name: value } }));
      expect(data.status, value).toBe("ok");
      expect(data.rows, value).toEqual([]);
    }
    const rock = toolJson<SqlResult>(await client.callTool({ name: "genre_named", arguments: { name: "Rock" } }));
    expect(rock.rows).toEqual([[1, "Rock"]]);
    // A write tool stores the text as it came, in its one column.
    const evil = "x'); DROP TABLE genre; --";
    const renamed = toolJson<SqlResult>(await client.callTool({ name: "rename_playlist", arguments: { id: 1, name: evil } }));
    expect(renamed.status).toBe("ok");
    expect(await targetRows("SELECT name FROM playlist WHERE playlist_id = 1")).toEqual([{ name: evil }]);
    expect(await targetRows<{ n: number }>("SELECT count(*)::int AS n FROM genre")).toEqual(before);
    expect(await targetRows("SELECT to_regclass('public.genre') IS NOT NULL AS there")).toEqual([{ there: true }]);
  });

  test("wrong types and missing arguments are refused with invalid_arguments, before anything runs", async () => {
    const cases: [string, Record<string, unknown>][] = [
      ["tracks_by_genre", { genre: "Rock", shorter_than_ms: "1; DROP TABLE genre" }],
      ["tracks_by_genre", { genre: "Rock", shorter_than_ms: 1.5 }],
      ["tracks_by_genre", {}],
      ["tracks_by_genre", { genre: ["Rock"] }],
      ["invoices_between", { from_day: "' OR 1=1 --", until: "2100-01-01T00:00:00Z", customer: 1 }],
      ["invoices_between", { from_day: "2000-01-01", until: "tomorrow", customer: 1 }],
      ["invoices_between", { from_day: "2000-01-01", until: "2100-01-01T00:00:00Z", customer: 1, really: "true" }],
    ];
    for (const [name, args] of cases) {
      const result = await client.callTool({ name, arguments: args });
      expect(result.isError, JSON.stringify(args)).toBe(true);
      const failure = toolJson<{ status: string; failure: { code: string; message: string } }>(result);
      expect(failure.status).toBe("failed");
      expect(failure.failure.code).toBe("invalid_arguments");
      expect(failure.failure.message).toContain(`Invalid arguments for ${name}`);
    }
  });
});

async function expectSaveRefused(on: LinkFixture, tool: SavedToolInput, words: RegExp = /refuses/) {
  await expect(save(on, tool)).rejects.toMatchObject({ code: "invalid_input", message: expect.stringMatching(words) });
}

describe("the save-time check", () => {
  const expectRefused = async (tool: SavedToolInput, words: RegExp) => {
    await expect(save(link, tool)).rejects.toMatchObject({ code: "invalid_input", message: expect.stringMatching(words) });
    expect((await listLinkTools(world.prisma, { teamId: link.teamId, linkId: link.linkId })).map((t) => t.name)).not.toContain(tool.name);
  };

  test("a statement the scope refuses is not saved, with the policy's reason", async () => {
    await expectRefused({ name: "staff", description: "d", sql: "SELECT * FROM employee", parameters: [] }, /refuses this statement.*employee/s);
    await expectRefused({ name: "wipe", description: "d", sql: "DELETE FROM genre WHERE genre_id = $1", parameters: [{ name: "id", type: "integer" }] }, /refuses/);
    await expectRefused({ name: "two", description: "d", sql: "SELECT 1; SELECT 2", parameters: [] }, /exactly one statement/);
  });

  test("placeholders must be exactly $1..$n, each used; a built-in's name is refused", async () => {
    await expectRefused({ name: "too_few", description: "d", sql: "SELECT name FROM genre WHERE genre_id = $2", parameters: [{ name: "a", type: "integer" }, { name: "b", type: "integer" }] }, /\$1 is not used/);
    await expectRefused({ name: "too_many", description: "d", sql: "SELECT name FROM genre WHERE genre_id = $1", parameters: [{ name: "a", type: "integer" }, { name: "b", type: "integer" }] }, /declares 2 parameters but the SQL uses only \$1\.\.\$1/);
    await expectRefused({ name: "undeclared", description: "d", sql: "SELECT name FROM genre WHERE genre_id = $1", parameters: [] }, /uses \$1 but the tool declares 0/);
    // A "$1" in a string literal or a comment is not a placeholder.
    await expectRefused({ name: "in_text", description: "d", sql: "SELECT '$1' AS t /* $1 */", parameters: [{ name: "a", type: "string" }] }, /declares 1 parameter but the SQL uses no placeholder/);
    await expectRefused({ name: "execute_sql", description: "d", sql: "SELECT 1", parameters: [] }, /built-in tool/);
    // A declared type that can never bind where the statement uses it: the call would always fail.
    await expectRefused({ name: "bool_id", description: "d", sql: "SELECT name FROM genre WHERE genre_id = $1", parameters: [{ name: "a", type: "boolean" }] }, /\$1 \(a\) is declared boolean but the statement uses it as integer/);
    await expectRefused({ name: "uuid_day", description: "d", sql: "SELECT count(*) FROM invoice WHERE invoice_date > $1", parameters: [{ name: "a", type: "uuid" }] }, /declared uuid but the statement uses it as timestamp/);
    await expectRefused({ name: "Bad-Name", description: "d", sql: "SELECT 1", parameters: [] }, /lower case/);
    await expectRefused({ name: "dup", description: "d", sql: "SELECT $1::int + $2::int", parameters: [{ name: "a", type: "integer" }, { name: "a", type: "integer" }] }, /two parameters are named a/);
    await expectRefused({ name: "db_param", description: "d", sql: "SELECT $1::text", parameters: [{ name: "database", type: "string" }] }, /reserved/);
    await expectRefused({ name: "elsewhere", description: "d", sql: "SELECT 1", parameters: [], databaseName: "nope" }, /no database named "nope"; it has: \S+/);
  });

  test("another team's link is not found", async () => {
    const team = await world.addTeam();
    const stranger = await world.addLink(SCOPE, team, gatewayUrl);
    await expect(createLinkTool(world.prisma, { teamId: link.teamId, linkId: stranger.linkId, tool: { name: "x", description: "d", sql: "SELECT 1" } }, deps)).rejects.toMatchObject({ code: "not_found" });
    await expect(setLinkDisabledTools(world.prisma, { teamId: link.teamId, linkId: stranger.linkId, disabledTools: ["execute_sql"] })).rejects.toMatchObject({ code: "not_found" });
    const [tool] = await listLinkTools(world.prisma, { teamId: link.teamId, linkId: link.linkId });
    await expect(deleteLinkTool(world.prisma, { teamId: team.teamId, linkId: link.linkId, id: tool!.id })).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("run time", () => {
  test("a saved tool the scope refuses after it narrowed is refused at run time and audited blocked", async () => {
    const narrowing = await world.addLink(SCOPE, undefined, gatewayUrl);
    await save(narrowing, { name: "customer_count", description: "How many customers", sql: "SELECT count(*)::int AS n FROM customer", parameters: [] });
    const c = await connect(narrowing.url, narrowing.key);
    try {
      const ok = toolJson<SqlResult>(await c.callTool({ name: "customer_count", arguments: {} }));
      expect(ok.rows).toEqual([[59]]);
      await world.prisma.link.update({ where: { id: narrowing.linkId }, data: { scope: { ...SCOPE, tables: { ...SCOPE.tables, customer: { access: "none" } } } } });
      const refused = await waitFor(
        async () => c.callTool({ name: "customer_count", arguments: {} }),
        (r) => toolJson<{ status: string }>(r).status !== "ok",
      );
      expect(refused.isError).toBe(true);
      const body = toolJson<{ status: string; refusal: { ruleId: string; reason: string } }>(refused);
      expect(body.status).toBe("refused");
      expect(JSON.stringify(body)).not.toContain("59");
      const events = await waitFor(
        () => auditEvents(world),
        (es) => es.some((e) => e.linkId === narrowing.linkId && e.tool === "customer_count" && e.verdict === "blocked"),
      );
      const blocked = events.find((e) => e.linkId === narrowing.linkId && e.verdict === "blocked")!;
      expect(blocked.sql).toBe("SELECT count(*)::int AS n FROM customer");
      expect(blocked.ruleId).toBe(body.refusal.ruleId);
    } finally {
      await c.close();
    }
  });

  test("disabled built-ins are absent from tools/list and unknown when called; enabling brings them back", async () => {
    const hidden = await world.addLink(SCOPE, undefined, gatewayUrl);
    await save(hidden, { name: "genre_count", description: "How many genres", sql: "SELECT count(*)::int AS n FROM genre", parameters: [] });
    await setLinkDisabledTools(world.prisma, { teamId: hidden.teamId, linkId: hidden.linkId, disabledTools: ["execute_sql", "explain_query", "execute_sql"] });
    const c = await connect(hidden.url, hidden.key);
    try {
      const names = (await c.listTools()).tools.map((t) => t.name);
      expect(names).not.toContain("execute_sql");
      expect(names).not.toContain("explain_query");
      expect(names).toContain("get_schema");
      expect(names.at(-1)).toBe("genre_count");
      await expect(c.callTool({ name: "execute_sql", arguments: { sql: "SELECT 1" } })).rejects.toThrow(/Unknown tool: execute_sql/);
      await expect(c.callTool({ name: "explain_query", arguments: { sql: "SELECT 1" } })).rejects.toThrow(/Unknown tool/);
      expect(toolJson<SqlResult>(await c.callTool({ name: "genre_count", arguments: {} })).rows).toEqual([[25]]);
      await setLinkDisabledTools(world.prisma, { teamId: hidden.teamId, linkId: hidden.linkId, disabledTools: [] });
      // The server decides calls at once; a 2026-07-28 client keeps a listing for its cache hint (60 s), so a fresh one lists.
      const ran = await waitFor(
        async () => c.callTool({ name: "execute_sql", arguments: { sql: "SELECT 1 AS one" } }).catch(() => null),
        (r) => r !== null,
      );
      expect(toolJson<SqlResult>(ran).rows).toEqual([[1]]);
      const fresh = await connect(hidden.url, hidden.key);
      expect((await fresh.listTools()).tools.map((t) => t.name)).toContain("execute_sql");
      await fresh.close();
    } finally {
      await c.close();
    }
  });

  test("another link's tool is not callable through this link; the same name runs each link's own SQL", async () => {
    await expect(client.callTool({ name: "other_only", arguments: {} })).rejects.toThrow(/Unknown tool: other_only/);
    await save(other, { name: "genre_named", description: "other link's", sql: "SELECT 'other' AS whose, $1::text AS asked", parameters: [{ name: "name", type: "string" }] });
    const c = await connect(other.url, other.key);
    try {
      const theirs = await waitFor(
        async () => c.callTool({ name: "genre_named", arguments: { name: "Rock" } }),
        (r) => !r.isError,
      );
      expect(toolJson<SqlResult>(theirs).rows).toEqual([["other", "Rock"]]);
      expect(toolJson<SqlResult>(await client.callTool({ name: "genre_named", arguments: { name: "Rock" } })).rows).toEqual([[1, "Rock"]]);
    } finally {
      await c.close();
    }
  });

  test("an edited tool runs its new SQL; a deleted one is gone", async () => {
    const edit = await world.addLink(SCOPE, undefined, gatewayUrl);
    const saved = await save(edit, { name: "first_genre", description: "d", sql: "SELECT name FROM genre WHERE genre_id = 1", parameters: [] });
    const c = await connect(edit.url, edit.key);
    try {
      expect(toolJson<SqlResult>(await c.callTool({ name: "first_genre", arguments: {} })).rows).toEqual([["Rock"]]);
      await updateLinkTool(world.prisma, { teamId: edit.teamId, linkId: edit.linkId, id: saved.id, tool: { name: "first_genre", description: "d", sql: "SELECT name FROM genre WHERE genre_id = 2", parameters: [] } }, deps);
      await waitFor(async () => toolJson<SqlResult>(await c.callTool({ name: "first_genre", arguments: {} })).rows, (rows) => JSON.stringify(rows) === '[["Jazz"]]');
      await deleteLinkTool(world.prisma, { teamId: edit.teamId, linkId: edit.linkId, id: saved.id });
      await waitFor(
        async () => c.callTool({ name: "first_genre", arguments: {} }).then(() => "ran", (e: Error) => e.message),
        (m) => /Unknown tool: first_genre/.test(m),
      );
      const fresh = await connect(edit.url, edit.key);
      expect((await fresh.listTools()).tools.map((t) => t.name)).not.toContain("first_genre");
      await fresh.close();
    } finally {
      await c.close();
    }
  });

  test("a saved write that needs approval is previewed, not run; approved, the same tool with requestId runs it once", async () => {
    const approving = await world.addLink(
      { ...SCOPE, tables: { ...SCOPE.tables, playlist: { access: "write", approval: "writes" } }, approvalOptions: { selfApproval: true } },
      undefined,
      gatewayUrl,
    );
    await save(approving, {
      name: "rename_playlist",
      description: "Renames a playlist",
      sql: "UPDATE playlist SET name = $2 WHERE playlist_id = $1",
      parameters: [
        { name: "id", type: "integer", required: true },
        { name: "name", type: "string", required: true },
      ],
    });
    const c = await connect(approving.url, approving.key);
    try {
      const args = { id: 2, name: "Approved name" };
      const pending = toolJson<{ status: string; requestId: string; message: string }>(await c.callTool({ name: "rename_playlist", arguments: args }));
      expect(pending.status).toBe("pending_approval");
      expect(pending.message).toContain("call rename_playlist again with exactly the same arguments plus");
      expect(await targetRows("SELECT name FROM playlist WHERE playlist_id = 2")).not.toEqual([{ name: "Approved name" }]);
      // Not approved yet: refused, nothing run.
      const early = await c.callTool({ name: "rename_playlist", arguments: { ...args, requestId: pending.requestId } });
      expect(toolJson<{ status: string; refusal: { ruleId: string } }>(early).refusal.ruleId).toBe("write_request_not_approved");
      await decideWriteRequest(world.prisma, { teamId: approving.teamId, id: pending.requestId, deciderId: approving.userId, decision: "approve", via: "dashboard" });
      // Other arguments than the request's: refused as a different statement.
      const other = await c.callTool({ name: "rename_playlist", arguments: { id: 2, name: "Something else", requestId: pending.requestId } });
      expect(toolJson<{ status: string; refusal: { ruleId: string } }>(other).refusal.ruleId).toBe("write_request_mismatch");
      const ran = toolJson<SqlResult>(await c.callTool({ name: "rename_playlist", arguments: { ...args, requestId: pending.requestId } }));
      expect(ran.status).toBe("ok");
      expect(await targetRows("SELECT name FROM playlist WHERE playlist_id = 2")).toEqual([{ name: "Approved name" }]);
      const again = await c.callTool({ name: "rename_playlist", arguments: { ...args, requestId: pending.requestId } });
      expect(toolJson<{ status: string; refusal: { ruleId: string } }>(again).refusal.ruleId).toBe("write_request_used");
    } finally {
      await c.close();
    }
  });

  test("a saved tool runs on its own database of a multi-database link, under that database's scope; `database` cannot move it", async () => {
    const multi = await world.addLink(SCOPE, undefined, gatewayUrl);
    // The second database: the same Chinook server under another scope (employee visible, genre hidden).
    await world.prisma.linkDatabase.create({
      data: { linkId: multi.linkId, teamId: multi.teamId, name: "second", connectionId: world.connectionId, position: 1, scope: { access: "read", schemas: ["public"], tables: { genre: { access: "none" } } } },
    });
    await expectSaveRefused(multi, { name: "genres_two", description: "d", sql: "SELECT count(*) FROM genre", parameters: [], databaseName: "second" });
    await expectSaveRefused(multi, { name: "staff_main", description: "d", sql: "SELECT count(*) FROM employee", parameters: [] });
    await save(multi, { name: "staff_count", description: "How many employees", sql: "SELECT count(*)::int AS n FROM employee", parameters: [], databaseName: "second" });
    // A fresh client per look: the v2 client keeps a tools/list answer for its cache hint.
    const listed = await waitFor(
      async () => {
        const fresh = await connect(multi.url, multi.key);
        try {
          return (await fresh.listTools()).tools;
        } finally {
          await fresh.close();
        }
      },
      (ts) => ts.some((t) => t.name === "staff_count"),
    );
    const c = await connect(multi.url, multi.key);
    try {
      const execute = listed.find((t) => t.name === "execute_sql")!.inputSchema.properties as Record<string, { enum?: string[] }>;
      expect(execute.database!.enum).toEqual([expect.any(String), "second"]);
      expect((listed.find((t) => t.name === "staff_count")!.inputSchema.properties as Record<string, unknown>).database).toBeUndefined();
      expect(toolJson<SqlResult>(await c.callTool({ name: "staff_count", arguments: {} })).rows).toEqual([[8]]);
      const first = execute.database!.enum![0]!;
      const moved = await c.callTool({ name: "staff_count", arguments: { database: first } });
      expect(moved.isError).toBe(true);
      expect(toolJson<{ status: string; refusal: { ruleId: string } }>(moved).refusal.ruleId).toBe("database_not_found");
      expect(toolJson<SqlResult>(await c.callTool({ name: "staff_count", arguments: { database: "second" } })).rows).toEqual([[8]]);
      // Its audit events name the database it ran on, whether or not the call named it.
      const events = await waitFor(
        async () => (await auditEvents(world)).filter((e) => e.tool === "staff_count" && e.verdict === "allowed"),
        (es) => es.length >= 2,
      );
      expect(events.map((e) => e.databaseName)).toEqual(["second", "second"]);
    } finally {
      await c.close();
    }
  });
});
