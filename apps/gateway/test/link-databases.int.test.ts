import { randomUUID } from "node:crypto";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { getKeyring } from "@portcullis/db/secrets";
import { addLinkDatabase, addMember, decideWriteRequest, listLinkDatabases, removeLinkDatabase, updateLinkDatabase } from "@portcullis/db/operations";
import { createEmptyDatabase, withClient, type TestDatabase } from "@portcullis/db/testing";
import { parseScope } from "@portcullis/policy";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditEvents, GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import { addConnection, createApiKey, createLink, createUser, parseTargetUrlForTests } from "./operations.js";

/**
 * Several databases per link (issue 17 point 4), end to end through a real gateway: one link over the
 * Chinook database ("music", customer hidden) and a small CRM database ("crm", secrets hidden, notes
 * writable only with a lead's approval). Each database is seen only through its own scope; a name the
 * link does not have is refused and audited, and nothing runs.
 */
let world: GatewayWorld;
let crm: TestDatabase;
let gateway = "";
let internal = "";
const ids = { link: "", single: "", crmConnection: "", otherTeam: "", member: "" };
const keys = { owner: "", member: "", single: "" };

const MUSIC_SCOPE = { access: "read", tables: { customer: { access: "none" } }, limits: { maxRows: 100, statementTimeoutMs: 5000 } };
const CRM_SCOPE = {
  access: "read",
  tables: { secrets: { access: "none" }, notes: { access: "write", approval: "writes" } },
  limits: { maxRows: 100, statementTimeoutMs: 5000 },
};

beforeAll(async () => {
  world = await GatewayWorld.create();
  crm = await createEmptyDatabase("crm");
  await withClient(crm.url, async (c) => {
    await c.query(`CREATE TABLE accounts (account_id int PRIMARY KEY, account_name text NOT NULL);
      CREATE TABLE secrets (secret_id int PRIMARY KEY, api_token text NOT NULL);
      CREATE TABLE notes (note_id serial PRIMARY KEY, body text NOT NULL);
      INSERT INTO accounts VALUES (1, 'Acme'), (2, 'Globex'), (3, 'Initech');
      INSERT INTO secrets VALUES (1, 'tok-live-very-secret');`);
  });
  const keyring = getKeyring(world.secretKeys);
  ids.crmConnection = (await addConnection(world.prisma, { teamId: world.teamId, name: "crm-conn", fields: parseTargetUrlForTests(crm.url), test: false }, keyring)).id;
  // Another team with a connection to the same CRM server: its name must mean nothing on our link.
  ids.otherTeam = (await world.addTeam("other-team", crm.url)).connectionId;

  const link = await world.addLink(MUSIC_SCOPE);
  ids.link = link.linkId;
  keys.owner = link.key;
  await updateLinkDatabase(world.prisma, { teamId: world.teamId, linkId: ids.link, name: (await listLinkDatabases(world.prisma, { teamId: world.teamId, linkId: ids.link }))[0]!.name, newName: "music" }, { parseScope });
  await addLinkDatabase(world.prisma, { teamId: world.teamId, linkId: ids.link, name: "crm", connectionId: ids.crmConnection, scope: CRM_SCOPE }, { parseScope });

  const single = await createLink(world.prisma, { teamId: world.teamId, connectionId: world.connectionId, name: `single-${randomUUID().slice(0, 6)}`, scope: MUSIC_SCOPE as never, databaseName: "other" });
  ids.single = single.id;
  keys.single = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: single.id, userId: world.userId, name: "single" })).key;

  const member = await createUser(world.prisma, { email: `ldb-member-${randomUUID().slice(0, 6)}@example.com` });
  await addMember(world.prisma, { teamId: world.teamId, userId: member.id, role: "member" });
  await world.prisma.linkAccess.create({ data: { linkId: ids.link, userId: member.id } });
  ids.member = member.id;
  keys.member = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: ids.link, userId: member.id, name: "member" })).key;

  const started = await world.startGateway();
  gateway = started.url;
  internal = started.internalUrl!;
}, 120_000);

afterAll(async () => {
  await world?.close();
  await crm?.drop().catch(() => {});
});

type Args = Record<string, unknown>;
const call = (name: string, args: Args, key = keys.owner, link = ids.link) => mcpRequest(`${gateway}/mcp/${link}`, key, "2026-07-28", "tools/call", { name, arguments: args });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
const data = async (name: string, args: Args, key = keys.owner, link = ids.link): Promise<Record<string, any>> => (await call(name, args, key, link)).json.result.structuredContent;
const text = async (name: string, args: Args): Promise<string> => String((await call(name, args)).json.result.content?.[0]?.text ?? "");
const count = (url: string, sql: string) => withClient(url, async (c) => Number((await c.query(sql)).rows[0].n));

describe("operations", () => {
  test("names are unique across the link's own database and its further ones; the first cannot be removed; another team's connection does not exist", async () => {
    const base = { teamId: world.teamId, linkId: ids.link };
    await expect(addLinkDatabase(world.prisma, { ...base, name: "music", connectionId: ids.crmConnection, scope: CRM_SCOPE }, { parseScope })).rejects.toMatchObject({ code: "conflict" });
    await expect(addLinkDatabase(world.prisma, { ...base, name: "crm", connectionId: ids.crmConnection, scope: CRM_SCOPE }, { parseScope })).rejects.toMatchObject({ code: "conflict" });
    await expect(addLinkDatabase(world.prisma, { ...base, name: "theirs", connectionId: ids.otherTeam, scope: CRM_SCOPE }, { parseScope })).rejects.toMatchObject({ code: "not_found" });
    await expect(addLinkDatabase(world.prisma, { ...base, name: "bad", connectionId: ids.crmConnection, scope: { access: "everything" } }, { parseScope })).rejects.toMatchObject({ code: "invalid_input" });
    await expect(addLinkDatabase(world.prisma, { ...base, name: "../crm", connectionId: ids.crmConnection, scope: CRM_SCOPE }, { parseScope })).rejects.toMatchObject({ code: "invalid_input" });
    await expect(updateLinkDatabase(world.prisma, { ...base, name: "crm", newName: "music" }, { parseScope })).rejects.toMatchObject({ code: "conflict" });
    await expect(removeLinkDatabase(world.prisma, { ...base, name: "music" })).rejects.toMatchObject({ code: "invalid_input" });
    // The composite foreign key refuses another team's connection even when the operation is bypassed.
    await expect(
      world.prisma.linkDatabase.create({ data: { linkId: ids.link, teamId: world.teamId, name: "sneak", connectionId: ids.otherTeam, scope: CRM_SCOPE, position: 9 } }),
    ).rejects.toThrow();
    const listed = await listLinkDatabases(world.prisma, base);
    expect(listed.map((d) => [d.name, d.first])).toEqual([["music", true], ["crm", false]]);
  });
});

describe("each database through its own scope", () => {
  test("get_schema without database covers both, labelled; hidden tables of either are nowhere", async () => {
    const answer = await call("get_schema", {});
    const s = answer.json.result.structuredContent;
    const body = JSON.stringify(answer.json.result);
    const relations = s.relations as { name: string; database: string }[];
    expect(relations.filter((r) => r.database === "crm").map((r) => r.name).sort()).toEqual(["accounts", "notes", "notes_note_id_seq"]);
    expect(relations.filter((r) => r.database === "music").map((r) => r.name)).toContain("invoice");
    expect(relations.some((r) => r.database === "music" && (r.name === "accounts" || r.name === "notes"))).toBe(false);
    expect(s.databases.map((d: { name: string }) => d.name)).toEqual(["music", "crm"]);
    expect(body).not.toMatch(/secrets|api_token|tok-live/);
    expect(relations.some((r) => r.name === "customer")).toBe(false);
  });

  test("a single-database link answers as before: no labels, no database sections, no database in tools/list", async () => {
    const s = await data("get_schema", {}, keys.single, ids.single);
    expect(s.databases).toBeUndefined();
    expect((s.relations as Args[]).every((r) => !("database" in r))).toBe(true);
    const listed = await mcpRequest(`${gateway}/mcp/${ids.single}`, keys.single, "2026-07-28", "tools/list");
    expect(JSON.stringify(listed.json.result.tools.map((t: { inputSchema: unknown }) => t.inputSchema))).not.toContain('"database"');
  });

  test("search_objects and list_tables: one database's hidden table and columns stay hidden in the all-database answer", async () => {
    for (const query of ["secrets", "api_token", "customer"]) {
      const s = await data("search_objects", { query, kinds: ["table", "column"] });
      expect(s.results.filter((r: { name: string }) => r.name === query || r.name.endsWith(`.${query}`) || r.name.startsWith(`${query}.`)), query).toEqual([]);
    }
    const accounts = await data("search_objects", { query: "account" });
    expect(accounts.results.map((r: { name: string; database: string }) => `${r.database}:${r.name}`)).toEqual(["crm:accounts"]);
    const crmTables = await data("list_tables", { database: "crm" });
    expect(crmTables.tables.map((t: { name: string; database: string }) => `${t.database}:${t.name}`)).toEqual(["crm:accounts", "crm:notes", "crm:notes_note_id_seq"]);
    const all = await data("list_tables", {});
    expect(all.total).toBe(crmTables.total + (await data("list_tables", { database: "music" })).total);
  });

  test("execute_sql runs on the named database only, each under its own scope", async () => {
    const onCrm = await data("execute_sql", { sql: "SELECT count(*)::int AS n FROM accounts", database: "crm" });
    expect(onCrm.rows).toEqual([[3]]);
    const onMusic = await data("execute_sql", { sql: "SELECT count(*)::int AS n FROM genre" });
    expect(onMusic.rows).toEqual([[25]]);
    // A table of the other database does not exist here, and a hidden one does not exist there.
    expect((await data("execute_sql", { sql: "SELECT count(*) FROM accounts" })).status).toBe("refused");
    expect((await data("execute_sql", { sql: "SELECT count(*) FROM genre", database: "crm" })).status).toBe("refused");
    const hidden = await data("execute_sql", { sql: "SELECT api_token FROM secrets", database: "crm" });
    expect(hidden.status).toBe("refused");
    expect(JSON.stringify(hidden)).not.toContain("tok-live");
    expect((await data("describe_table", { table: "secrets", database: "crm" })).status).toBe("failed");
    expect((await data("describe_table", { table: "accounts", database: "crm" })).table.columns.map((c: { name: string }) => c.name)).toEqual(["account_id", "account_name"]);
  });

  test("get_permissions describes each database", async () => {
    const s = await data("get_permissions", {});
    expect(s.databases.map((d: { name: string; allows: { tables: Args } }) => [d.name, d.allows.tables])).toEqual([
      ["music", {}],
      ["crm", { "public.notes": "write" }],
    ]);
    expect(s.summary).toContain('=== database "crm"');
    expect(s.summary).not.toContain("secrets");
  });
});

describe("the database argument, attacked", () => {
  test("an unknown name is refused with the link's own names, audited as blocked, nothing run", async () => {
    const before = await count(crm.url, "SELECT count(*)::int AS n FROM notes");
    const s = await data("execute_sql", { sql: "INSERT INTO notes (body) VALUES ('x')", database: "nope" });
    expect(s.status).toBe("refused");
    expect(s.refusal.ruleId).toBe("database_not_found");
    expect(s.refusal.reason).toContain('this link has no database named "nope"; it has: music, crm');
    expect(await count(crm.url, "SELECT count(*)::int AS n FROM notes")).toBe(before);
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.some((e) => e.ruleId === "database_not_found" && e.sql?.includes("INSERT INTO notes")),
    );
    const event = events.find((e) => e.ruleId === "database_not_found" && e.sql?.includes("INSERT INTO notes"))!;
    expect(event.verdict).toBe("blocked");
    expect(event.tool).toBe("execute_sql");
  });

  test("operator objects, arrays, paths, other links' and other teams' names, case and NUL variants: refused, no rows", async () => {
    const probes: unknown[] = [{ $ne: null }, { name: "crm" }, ["crm"], ["music", "crm"], 7, true, "", "../crm", "crm/../music", "other", "target", "other-team", "crm-conn", "CRM", "crm\u0000", " crm", "__proto__", "constructor", "x".repeat(64)];
    for (const database of probes) {
      const s = await data("execute_sql", { sql: "SELECT account_name FROM accounts", database });
      expect(s.status, JSON.stringify(database)).not.toBe("ok");
      expect(s.rows, JSON.stringify(database)).toBeUndefined();
      expect(JSON.stringify(s), JSON.stringify(database)).not.toMatch(/Acme|Globex/);
      if (typeof database === "string" && database.length > 0 && database.length <= 63) expect(s.refusal?.ruleId, JSON.stringify(database)).toBe("database_not_found");
    }
    // The other link's own database name works there, and only there.
    expect((await data("execute_sql", { sql: "SELECT count(*)::int AS n FROM genre", database: "other" }, keys.single, ids.single)).rows).toEqual([[25]]);
  });

  test("the v2 client sees database in tools/list only on the multi-database link, as an enum of its names", async () => {
    const client = new ClientV2({ name: "ldb-v2", version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await client.connect(new TransportV2(new URL(`${gateway}/mcp/${ids.link}`), { requestInit: { headers: { Authorization: `Bearer ${keys.owner}` } } }));
    try {
      const { tools } = await client.listTools();
      const exec = tools.find((t) => t.name === "execute_sql")!;
      expect((exec.inputSchema.properties as Record<string, { enum?: string[] }>).database?.enum).toEqual(["music", "crm"]);
      const result = await client.callTool({ name: "list_tables", arguments: { database: "crm" } });
      expect((result.structuredContent as { total: number }).total).toBe(3);
    } finally {
      await client.close();
    }
  });
});

describe("write requests bind to their database", () => {
  test("a write on crm waits for approval, refuses to run on music, runs once on crm", async () => {
    const sql = "INSERT INTO notes (body) VALUES ('approved on crm')";
    const pending = await data("execute_sql", { sql, database: "crm" }, keys.member);
    expect(pending.status).toBe("pending_approval");
    expect(pending.message).toContain('"database": "crm"');
    const requestId = pending.requestId as string;
    const stored = await withClient(world.meta.url, async (c) => (await c.query("SELECT database_name FROM write_requests WHERE id = $1", [requestId])).rows[0]);
    expect(stored.database_name).toBe("crm");
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id: requestId, deciderId: world.userId, decision: "approve", via: "dashboard" });
    const shown = await data("get_write_request", { requestId }, keys.member);
    expect(shown.database).toBe("crm");
    expect(shown.next).toContain('"database": "crm"');
    // Named on another database: the request does not exist there, and nothing runs.
    const before = await count(crm.url, "SELECT count(*)::int AS n FROM notes");
    const elsewhere = await data("execute_sql", { sql, requestId, database: "music" }, keys.member);
    expect(elsewhere.status).toBe("refused");
    expect(elsewhere.refusal.ruleId).toBe("write_request_mismatch");
    expect((await data("get_write_request", { requestId, database: "music" }, keys.member)).status).toBe("failed");
    expect(await count(crm.url, "SELECT count(*)::int AS n FROM notes")).toBe(before);
    const ran = await data("execute_sql", { sql, requestId, database: "crm" }, keys.member);
    expect(ran.status).toBe("ok");
    expect(await count(crm.url, "SELECT count(*)::int AS n FROM notes WHERE body = 'approved on crm'")).toBe(1);
    const again = await data("execute_sql", { sql, requestId, database: "crm" }, keys.member);
    expect(again.refusal?.ruleId).toBe("write_request_used");
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.some((e) => e.writeRequestId === requestId && e.verdict === "allowed" && e.tool === "execute_sql"),
    );
    expect(events.find((e) => e.writeRequestId === requestId && e.verdict === "allowed" && e.tool === "execute_sql")!.databaseName).toBe("crm");
    // get_write_request named no database but followed the request's: audited there too.
    expect(events.find((e) => e.writeRequestId === requestId && e.tool === "get_write_request")!.databaseName).toBe("crm");
  });

  test("an approved request executed without naming a database runs on its own (as the confirmation path does), never on the first", async () => {
    const sql = "INSERT INTO notes (body) VALUES ('followed to crm')";
    const pending = await data("execute_sql", { sql, database: "crm" }, keys.member);
    const requestId = pending.requestId as string;
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id: requestId, deciderId: world.userId, decision: "approve", via: "dashboard" });
    const ran = await data("execute_sql", { sql, requestId }, keys.member);
    expect(ran.status).toBe("ok");
    expect(await count(crm.url, "SELECT count(*)::int AS n FROM notes WHERE body = 'followed to crm'")).toBe(1);
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.some((e) => e.writeRequestId === requestId && e.verdict === "allowed" && e.tool === "execute_sql"),
    );
    expect(events.find((e) => e.writeRequestId === requestId && e.verdict === "allowed" && e.tool === "execute_sql")!.databaseName).toBe("crm");
  });
});

test("get_schema's text names each database and says how to pick one", async () => {
  const t = await text("get_schema", {});
  expect(t).toContain('=== database "music"');
  expect(t).toContain('=== database "crm"');
  expect(t).not.toMatch(/secrets|api_token/);
});

test("the Playground runs on the database it names, and refuses a name the link does not have", async () => {
  const ask = (body: Record<string, unknown>) =>
    fetch(`${internal}/internal/links/${ids.link}/playground`, {
      method: "POST",
      headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
      body: JSON.stringify({ sql: "SELECT account_name FROM accounts ORDER BY account_id", userId: world.userId, ...body }),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { verdict: { allowed: boolean; ruleId?: string }; result?: { rows: unknown[][] } } }));
  const onCrm = await ask({ database: "crm" });
  expect(onCrm.status).toBe(200);
  expect(onCrm.body.result?.rows).toEqual([["Acme"], ["Globex"], ["Initech"]]);
  const onMusic = await ask({});
  expect(onMusic.body.verdict.allowed).toBe(false);
  const unknown = await ask({ database: "elsewhere" });
  expect(unknown.body.verdict).toMatchObject({ allowed: false, ruleId: "database_not_found" });
  expect(JSON.stringify(unknown.body)).not.toContain("Acme");
  expect((await ask({ database: ["crm"] })).status).toBe(422);
});
