import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Queue } from "bullmq";
import { AUDIT_JOBS, QUEUES, type AuditEvent } from "@portcullis/jobs";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { BUILT_IN_TOOL_NAMES } from "@portcullis/db/operations";
import { createChinookDatabase, testRedisUrl, withClient, type TestDatabase } from "@portcullis/db/testing";
import { createActionWorld, loadActions, type ActionWorld, type Result, type Who } from "./support/action-world";

/**
 * The link page's Databases and Tools tabs through their real server actions (issue 17): a further
 * database with its own scope, saved tools checked against their database's scope at save time, the
 * built-in switches, and Try it's binding. Judged by the rows of links, link_databases and link_tools
 * before and after; members, viewers and another team's owner change nothing.
 */
const jar = vi.hoisted(() => ({ store: undefined as { getStore(): string | undefined } | undefined }));
vi.mock("next/headers", () => ({
  cookies: async () => {
    const token = jar.store?.getStore();
    return {
      getAll: () => (token ? [{ name: "next-auth.session-token", value: token }] : []),
      get: (name: string) => (token && name === "next-auth.session-token" ? { name, value: token } : undefined),
    };
  },
  headers: async () => new Headers({ "user-agent": "vitest link reach", "x-real-ip": "203.0.113.9" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));

let world: ActionWorld;
let second: TestDatabase;
let connection2: string;
let actions: Record<string, (input: unknown) => Promise<Result>>;
const sessions = new AsyncLocalStorage<string>();
jar.store = sessions;

function call(who: Who, name: string, input: unknown): Promise<Result> {
  return sessions.run(world.tokens[who], () => actions[name]!(input));
}

/** Everything these actions could change, of both teams. */
async function rows() {
  const p = world.prisma;
  return JSON.stringify(
    await Promise.all([
      p.link.findMany({ orderBy: { id: "asc" }, select: { id: true, databaseName: true, disabledTools: true, scope: true } }),
      p.linkDatabase.findMany({ orderBy: [{ linkId: "asc" }, { name: "asc" }] }),
      p.linkTool.findMany({ orderBy: { id: "asc" } }),
    ]),
  );
}

const TOOL = {
  name: "artists_upto",
  title: "Artists up to an id",
  description: "Artist names with an id up to max_id",
  sql: "SELECT name FROM artist WHERE artist_id <= $1 ORDER BY artist_id",
  parameters: [{ name: "max_id", type: "integer", description: "highest id", required: true }],
  databaseName: null,
};

beforeAll(async () => {
  world = await createActionWorld("reach");
  second = await createChinookDatabase();
  process.env.TARGET_STACK_DATABASES = [world.chinook, second].map((d) => new URL(d.url).pathname.slice(1)).join(",");
  actions = await loadActions([path.join(__dirname, "../src/features/links/actions.ts")]);
  const { resolveTeam } = await import("../src/lib/authz");
  const conn = await import("../src/features/connections/operations");
  const ownerA = await resolveTeam({ userId: world.users.owner }, world.teamA);
  connection2 = (await conn.createConnection(ownerA, { values: { name: "archive", mode: "url", url: `${second.url}${second.url.includes("?") ? "&" : "?"}sslmode=disable`, sslMode: "disable" } })).id;
}, 180_000);

afterAll(async () => {
  await world?.drop();
  await second?.drop();
});

describe("Databases tab", () => {
  test("an admin adds a second database with its own scope, renames the first, removes the second", async () => {
    const added = await call("admin", "addLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "archive", connectionId: connection2, scope: { access: "read", tables: { customer: { access: "none" } } } });
    expect(added).toMatchObject({ ok: true, data: { name: "archive" } });
    const stored = await world.prisma.linkDatabase.findUniqueOrThrow({ where: { linkId_name: { linkId: world.linkA, name: "archive" } } });
    expect(stored).toMatchObject({ connectionId: connection2, teamId: world.teamA });
    expect(stored.scope).toMatchObject({ tables: { customer: { access: "none" } } });

    const first = (await world.prisma.link.findUniqueOrThrow({ where: { id: world.linkA } })).databaseName;
    expect(await call("owner", "updateLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: first, newName: "sales" })).toMatchObject({ ok: true });
    expect((await world.prisma.link.findUniqueOrThrow({ where: { id: world.linkA } })).databaseName).toBe("sales");
    // The first database's scope is the link's own: it is not edited here.
    expect(await call("owner", "updateLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "sales", scope: { access: "admin" } })).toMatchObject({ ok: false, code: "not_found" });

    expect(await call("admin", "updateLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "archive", scope: { access: "read" } })).toMatchObject({ ok: true });
    expect((await world.prisma.linkDatabase.findUniqueOrThrow({ where: { linkId_name: { linkId: world.linkA, name: "archive" } } })).scope).not.toHaveProperty("tables.customer");

    // The page reads them through the same operation: the first one first.
    const { linkDatabasesFor } = await import("../src/features/links/link-databases");
    const { resolveTeam } = await import("../src/lib/authz");
    const views = await linkDatabasesFor(await resolveTeam({ userId: world.users.member }, world.teamA), world.linkA);
    expect(views.map((v) => v.name)).toEqual(["sales", "archive"]);

    expect(await call("admin", "removeLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "archive" })).toMatchObject({ ok: true });
    expect(await world.prisma.linkDatabase.count({ where: { linkId: world.linkA } })).toBe(0);
    // The changes are in the team's audit chain.
    const outbox = JSON.stringify(await world.prisma.auditOutbox.findMany({ where: { teamId: world.teamA } }));
    for (const action of ["link.database.add", "link.database.rename", "link.database.update", "link.database.remove"]) expect(outbox).toContain(action);
  });

  test("a row filter naming a column the second database does not have is refused against that database's catalog", async () => {
    const before = await rows();
    const result = await call("owner", "addLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "filtered", connectionId: connection2, scope: { access: "read", tables: { artist: { rowFilter: "no_such_column = 1" } } } });
    expect(result).toMatchObject({ ok: false, code: "invalid_input" });
    expect(await rows()).toBe(before);
  });

  test("members and viewers cannot change databases; another team's owner gets not found; nothing changes", async () => {
    await call("owner", "addLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "kept", connectionId: connection2, scope: { access: "read" } });
    const before = await rows();
    const attempts: [string, Record<string, unknown>][] = [
      ["addLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "mine", connectionId: connection2, scope: { access: "admin" } }],
      ["updateLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "kept", scope: { access: "admin" } }],
      ["removeLinkDatabaseAction", { teamId: world.teamA, linkId: world.linkA, name: "kept" }],
    ];
    for (const [name, input] of attempts) {
      for (const who of ["member", "viewer"] as const) expect(await call(who, name, input), `${name} as ${who}`).toMatchObject({ ok: false, code: "forbidden" });
      expect(await call("outsider", name, input), `${name} as outsider`).toMatchObject({ ok: false, code: "not_found" });
      // Their own team's id with our link and connection: still nothing of ours.
      expect(await call("outsider", name, { ...input, teamId: world.teamB }), `${name} under team B`).toMatchObject({ ok: false, code: "not_found" });
    }
    // Team B's own link, team A's connection: the connection is not theirs.
    expect(await call("outsider", "addLinkDatabaseAction", { teamId: world.teamB, linkId: world.linkB, name: "stolen", connectionId: connection2, scope: { access: "read" } })).toMatchObject({ ok: false, code: "not_found" });
    expect(await rows()).toBe(before);
  });
});

describe("Tools tab", () => {
  test("a saved tool the database's scope refuses is not saved, and the form gets the policy's words", async () => {
    await call("owner", "updateLinkAction", { teamId: world.teamA, linkId: world.linkA, scope: { access: "read", tables: { customer: { access: "none" } } } });
    const before = await rows();
    const refused = await call("admin", "saveLinkToolAction", { teamId: world.teamA, linkId: world.linkA, ...TOOL, name: "emails", sql: "SELECT email FROM customer WHERE customer_id = $1" });
    expect(refused).toMatchObject({ ok: false, code: "invalid_input" });
    expect((refused as { error: string }).error).toMatch(/not saved/i);
    expect((refused as { error: string }).error).toMatch(/customer/);
    const placeholders = await call("admin", "saveLinkToolAction", { teamId: world.teamA, linkId: world.linkA, ...TOOL, sql: "SELECT name FROM artist" });
    expect(placeholders).toMatchObject({ ok: false, code: "invalid_input" });
    const builtIn = await call("admin", "saveLinkToolAction", { teamId: world.teamA, linkId: world.linkA, ...TOOL, name: "execute_sql" });
    expect(builtIn).toMatchObject({ ok: false, code: "invalid_input" });
    expect(await rows()).toBe(before);
  });

  test("an admin saves, edits and deletes a tool; members, viewers and another team change nothing", async () => {
    const saved = await call("admin", "saveLinkToolAction", { teamId: world.teamA, linkId: world.linkA, ...TOOL });
    expect(saved).toMatchObject({ ok: true, data: { name: "artists_upto" } });
    const id = (saved as { data: { id: string } }).data.id;
    const row = await world.prisma.linkTool.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ teamId: world.teamA, linkId: world.linkA, sql: TOOL.sql, createdById: world.users.admin });
    expect(row.parameters).toEqual([{ name: "max_id", type: "integer", description: "highest id", required: true }]);

    const before = await rows();
    const edit = { teamId: world.teamA, linkId: world.linkA, toolId: id, ...TOOL, sql: "SELECT name, artist_id FROM artist WHERE artist_id <= $1" };
    for (const who of ["member", "viewer"] as const) {
      expect(await call(who, "saveLinkToolAction", edit)).toMatchObject({ ok: false, code: "forbidden" });
      expect(await call(who, "deleteLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId: id })).toMatchObject({ ok: false, code: "forbidden" });
      expect(await call(who, "setLinkBuiltInToolsAction", { teamId: world.teamA, linkId: world.linkA, disabledTools: ["execute_sql"] })).toMatchObject({ ok: false, code: "forbidden" });
    }
    expect(await call("outsider", "saveLinkToolAction", { ...edit, teamId: world.teamB })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("outsider", "deleteLinkToolAction", { teamId: world.teamB, linkId: world.linkA, toolId: id })).toMatchObject({ ok: false, code: "not_found" });
    // Their own link with our tool's id: not theirs either.
    expect(await call("outsider", "deleteLinkToolAction", { teamId: world.teamB, linkId: world.linkB, toolId: id })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("outsider", "tryLinkToolAction", { teamId: world.teamB, linkId: world.linkB, toolId: id, arguments: { max_id: "3" } })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("outsider", "setLinkBuiltInToolsAction", { teamId: world.teamB, linkId: world.linkA, disabledTools: ["execute_sql"] })).toMatchObject({ ok: false, code: "not_found" });
    expect(await rows()).toBe(before);

    expect(await call("admin", "saveLinkToolAction", edit)).toMatchObject({ ok: true });
    expect((await world.prisma.linkTool.findUniqueOrThrow({ where: { id } })).sql).toBe(edit.sql);
    expect(await call("owner", "deleteLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId: id })).toMatchObject({ ok: true });
    expect(await world.prisma.linkTool.count({ where: { id } })).toBe(0);
  });

  test("built-in switches: execute_sql off is stored; an unknown name is refused", async () => {
    expect(await call("admin", "setLinkBuiltInToolsAction", { teamId: world.teamA, linkId: world.linkA, disabledTools: ["explain_query", "execute_sql"] })).toMatchObject({ ok: true, data: ["execute_sql", "explain_query"] });
    expect((await world.prisma.link.findUniqueOrThrow({ where: { id: world.linkA } })).disabledTools).toEqual(["execute_sql", "explain_query"]);
    const before = await rows();
    expect(await call("admin", "setLinkBuiltInToolsAction", { teamId: world.teamA, linkId: world.linkA, disabledTools: ["drop_everything"] })).toMatchObject({ ok: false, code: "invalid_input" });
    expect(await rows()).toBe(before);
    expect(await call("admin", "setLinkBuiltInToolsAction", { teamId: world.teamA, linkId: world.linkA, disabledTools: [] })).toMatchObject({ ok: true, data: [] });
  });

  test("the dashboard's list of built-in tools is the db package's (the gateway test pins that one to TOOLS)", async () => {
    const { BUILT_IN_TOOLS } = await import("../src/features/links/tool-shapes");
    expect(BUILT_IN_TOOLS.map((t) => t.name)).toEqual([...BUILT_IN_TOOL_NAMES]);
  });

  test("Try it sends the typed values by name and refuses text that cannot be of its type before anything is sent", async () => {
    const { toolArgumentValues } = await import("../src/features/links/link-tools");
    const tool = {
      id: randomUUID(), name: "t", title: null, description: "d", sql: "SELECT $1, $2, $3, $4", databaseName: null,
      parameters: [
        { name: "n", type: "integer" as const, description: "", required: true },
        { name: "s", type: "string" as const, description: "", required: true },
        { name: "flag", type: "boolean" as const, description: "", required: false, default: true },
        { name: "day", type: "date" as const, description: "", required: false },
      ],
    };
    // Empty optional values are left out: the tool's default (or NULL) is the gateway's to apply.
    expect(toolArgumentValues(tool, { n: "42", s: "' OR 1=1 --", flag: "" })).toEqual({ n: 42, s: "' OR 1=1 --" });
    expect(toolArgumentValues(tool, { n: "7", s: "x", flag: "false", day: "2024-02-29" })).toEqual({ n: 7, s: "x", flag: false, day: "2024-02-29" });
    expect(() => toolArgumentValues(tool, { n: "1; DROP TABLE artist", s: "x" })).toThrow(/n must be a whole number/);
    expect(() => toolArgumentValues(tool, { s: "x" })).toThrow(/n is required/);
    expect(() => toolArgumentValues(tool, { n: "1", s: "x", day: "yesterday" })).toThrow(/day must be/);
    expect(() => toolArgumentValues(tool, { n: "1", s: "x", sql: "DELETE FROM artist" })).toThrow(/no parameter sql/);

    const saved = await call("admin", "saveLinkToolAction", { teamId: world.teamA, linkId: world.linkA, ...TOOL, name: "try_me" });
    const toolId = (saved as { data: { id: string } }).data.id;
    // A bad value is refused in words; a good one reaches for the gateway (off in this test: unavailable).
    expect(await call("member", "tryLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId, arguments: { max_id: "three" } })).toMatchObject({ ok: false, code: "invalid_input", error: expect.stringMatching(/the parameter max_id must be a whole number/i) });
    expect(await call("member", "tryLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId, arguments: { max_id: "3" } })).toMatchObject({ ok: false, code: "unavailable" });
    expect(await call("viewer", "tryLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId, arguments: { max_id: "3" } })).toMatchObject({ ok: false, code: "forbidden" });
  });
});

describe("Try it through a real gateway", () => {
  let gateway: { stop(): Promise<void>; internalUrl: string | undefined } | undefined;
  let spool: string;
  let dashboard: { GATEWAY_INTERNAL_TOKEN?: string; gatewayInternalUrl: string };
  let saved: { GATEWAY_INTERNAL_TOKEN?: string; gatewayInternalUrl: string };
  const queuePrefix = `trygw${randomUUID().slice(0, 6)}`;

  /** The audit events the gateway journalled, as the worker would receive them. */
  async function auditEvents(): Promise<AuditEvent[]> {
    const queue = new Queue(QUEUES.audit, { connection: { url: testRedisUrl() }, prefix: queuePrefix });
    try {
      const jobs = await queue.getJobs(["wait", "delayed", "prioritized", "active", "completed", "failed"], 0, -1);
      return jobs.flatMap((j) => (j.name === AUDIT_JOBS.batch ? (j.data as { events: AuditEvent[] }).events : [j.data as AuditEvent]));
    } finally {
      await queue.close();
    }
  }

  async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
    const deadline = Date.now() + 10_000;
    let v = await fn();
    while (!ok(v) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      v = await fn();
    }
    return v;
  }

  beforeAll(async () => {
    // The gateway of this dashboard: its metadata database and secret keys, its own audit queue.
    // Through a computed specifier: type-checking the gateway's sources under the dashboard's settings
    // (Next's ProcessEnv) is not this project's; vitest loads them as the gateway's own tests do.
    const from = (file: string) => import(/* @vite-ignore */ `../../gateway/src/${file}`) as Promise<Record<string, (...args: never[]) => never>>;
    const { createGateway } = (await from("gateway")) as unknown as { createGateway(env: unknown): { start(): Promise<string>; stop(): Promise<void>; internalUrl: string | undefined } };
    const { parseGatewayEnv } = (await from("env")) as unknown as { parseGatewayEnv(source: Record<string, string | undefined>): unknown };
    spool = await mkdtemp(path.join(tmpdir(), "try-spool-"));
    const g = createGateway(
      parseGatewayEnv({
        DATABASE_URL: world.meta.url, REDIS_URL: testRedisUrl(), PORTCULLIS_SECRET_KEYS: process.env.PORTCULLIS_SECRET_KEYS, GATEWAY_PORT: "0", GATEWAY_HOST: "127.0.0.1",
        GATEWAY_PUBLIC_URL: "http://localhost:3001", WEB_PUBLIC_URL: "http://localhost:3999", GATEWAY_AUDIT_SPOOL_DIR: spool, QUEUE_PREFIX: queuePrefix, LOG_LEVEL: "silent",
        GATEWAY_INTERNAL_TOKEN: "try-it-token", GATEWAY_INTERNAL_PORT: "0", TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true",
      }),
    );
    await g.start();
    gateway = g;
    // The dashboard read its settings once, without a gateway: point that same object at this one.
    dashboard = (await import("../src/lib/env")).env();
    saved = { GATEWAY_INTERNAL_TOKEN: dashboard.GATEWAY_INTERNAL_TOKEN, gatewayInternalUrl: dashboard.gatewayInternalUrl };
    Object.assign(dashboard, { GATEWAY_INTERNAL_TOKEN: "try-it-token", gatewayInternalUrl: g.internalUrl });
  }, 60_000);

  afterAll(async () => {
    if (dashboard) Object.assign(dashboard, saved);
    await gateway?.stop();
    if (spool) await rm(spool, { recursive: true, force: true });
  });

  test("the saved tool runs under its own name, with execute_sql switched off; a value its type refuses at the gateway comes back in words", async () => {
    const tool = await call("admin", "saveLinkToolAction", { teamId: world.teamA, linkId: world.linkA, ...TOOL, name: "try_live" });
    const toolId = (tool as { data: { id: string } }).data.id;
    const when = await call("admin", "saveLinkToolAction", {
      teamId: world.teamA, linkId: world.linkA, name: "invoices_before", description: "Invoices before a time", databaseName: null,
      sql: "SELECT count(*)::int AS n FROM invoice WHERE invoice_date < $1", parameters: [{ name: "until", type: "timestamp", description: "", required: true }],
    });
    const whenId = (when as { data: { id: string } }).data.id;
    // A saved tool is the link's answer even when it offers no free SQL: the try must not need execute_sql.
    expect(await call("admin", "setLinkBuiltInToolsAction", { teamId: world.teamA, linkId: world.linkA, disabledTools: ["execute_sql"] })).toMatchObject({ ok: true });
    const ran = await eventually(
      () => call("member", "tryLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId, arguments: { max_id: "3" } }),
      (r) => r.ok,
    );
    expect(ran).toMatchObject({ ok: true, data: { verdict: { allowed: true }, result: { rows: [["AC/DC"], ["Accept"], ["Aerosmith"]] } } });

    // Text the form converts (a time without its offset) that the tool's own parse refuses.
    const refused = await call("member", "tryLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId: whenId, arguments: { until: "2010-01-01 00:00" } });
    expect(refused).toMatchObject({ ok: false, code: "invalid_input", error: expect.stringMatching(/^Invalid arguments for invoices_before: until: /) });
    // The midpoint of the invoices' dates: a count that only the bound value gives.
    const direct = await withClient(world.chinook.url, async (c) => {
      const mid = (await c.query("SELECT to_char(to_timestamp((extract(epoch FROM min(invoice_date)) + extract(epoch FROM max(invoice_date))) / 2), 'YYYY-MM-DD\"T00:00:00Z\"') AS at FROM invoice")).rows[0].at as string;
      return { mid, n: (await c.query("SELECT count(*)::int AS n FROM invoice WHERE invoice_date < $1::timestamptz", [mid])).rows[0].n as number };
    });
    expect(direct.n).toBeGreaterThan(0);
    expect(await call("member", "tryLinkToolAction", { teamId: world.teamA, linkId: world.linkA, toolId: whenId, arguments: { until: direct.mid } })).toMatchObject({ ok: true, data: { result: { rows: [[direct.n]] } } });

    const events = await eventually(auditEvents, (es) => es.filter((e) => e.tool === "invoices_before").length >= 2 && es.some((e) => e.tool === "try_live"));
    const mine = events.filter((e) => e.kind === "tool_call" && e.linkId === world.linkA);
    expect(mine.filter((e) => e.verdict === "allowed").map((e) => [e.tool, e.userId, e.clientName, e.sql])).toEqual(
      expect.arrayContaining([
        ["try_live", world.users.member, "portcullis-playground", TOOL.sql],
        ["invoices_before", world.users.member, "portcullis-playground", "SELECT count(*)::int AS n FROM invoice WHERE invoice_date < $1"],
      ]),
    );
    expect(mine.find((e) => e.tool === "invoices_before" && e.verdict === "error")?.error).toMatch(/Invalid arguments for invoices_before/);
    expect(mine.some((e) => e.tool === "execute_sql")).toBe(false);
    await call("admin", "setLinkBuiltInToolsAction", { teamId: world.teamA, linkId: world.linkA, disabledTools: [] });
  });
});
