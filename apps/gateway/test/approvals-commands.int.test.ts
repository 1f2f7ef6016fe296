import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decideWriteRequest } from "@portcullis/db/operations";
import { GatewayWorld, waitFor, type LinkFixture } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * Issue 15, the commands without a row preview (TRUNCATE, DDL) and the Playground: the dry run counts
 * what it can, says why rows are not shown, keeps nothing; the Playground cannot run what MCP cannot.
 */
let world: GatewayWorld;
let gatewayUrl: string;
let internalUrl: string;
let target: pg.Client;
let meta: pg.Client;
let link: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  target = new pg.Client({ connectionString: world.target.url });
  meta = new pg.Client({ connectionString: world.meta.url });
  await Promise.all([target.connect(), meta.connect()]);
  await target.query("CREATE TABLE scratch (id integer PRIMARY KEY, v text); INSERT INTO scratch SELECT g, 'v' || g FROM generate_series(1, 7) g");
  const started = await world.startGateway();
  gatewayUrl = started.url;
  internalUrl = started.internalUrl!;
  link = await world.addLink(
    { access: "read", tables: { scratch: { access: "admin", approval: "destructive" }, invoice: { access: "write", approval: "writes" } }, limits: { maxRows: 100, statementTimeoutMs: 5000 } },
    undefined,
    gatewayUrl,
  );
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await meta?.end().catch(() => {});
  await world?.close();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
const run = async (sql: string, requestId?: string): Promise<Record<string, any>> =>
  (await mcpRequest(link.url, link.key, "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql, ...(requestId ? { requestId } : {}) } })).json.result.structuredContent;
const scratchRows = async () => Number((await target.query("SELECT count(*) FROM scratch")).rows[0]!.count);
const columns = async () => (await target.query("SELECT column_name FROM information_schema.columns WHERE table_name = 'scratch' ORDER BY ordinal_position")).rows.map((r) => r.column_name as string);

describe("commands without a row preview", () => {
  it("TRUNCATE: counted before, rows not shown, table untouched; its requester cannot approve it", async () => {
    const p = await run("TRUNCATE scratch");
    expect(p.status).toBe("pending_approval");
    expect(p.preview).toMatchObject({ command: "TRUNCATE", table: "public.scratch", affected: 7, before: [], after: [] });
    expect(p.preview.notes.join(" ")).toMatch(/TRUNCATE removes every row/);
    expect(p.message).toMatch(/would remove 7 rows from public\.scratch/);
    expect(await scratchRows()).toBe(7);
    // The key belongs to the team owner: nobody approves their own request (no selfApproval in the scope).
    await expect(decideWriteRequest(world.prisma, { teamId: world.teamId, id: p.requestId, deciderId: world.userId, decision: "approve", via: "cli" })).rejects.toMatchObject({ code: "own_request" });
    expect((await meta.query("SELECT status FROM write_requests WHERE id = $1", [p.requestId])).rows[0].status).toBe("pending");
  });

  it("DDL: no count, a note; the column is not added by the dry run", async () => {
    const before = await columns();
    const p = await run("ALTER TABLE scratch ADD COLUMN w integer");
    expect(p.status).toBe("pending_approval");
    expect(p.preview.affected).toBeNull();
    expect(p.preview.notes.length).toBeGreaterThan(0);
    expect(await columns()).toEqual(before);
  });

  it("an INSERT on a table with approval destructive runs at once; an UPDATE without WHERE needs a decision", async () => {
    expect(await run("INSERT INTO scratch VALUES (100, 'direct')")).toMatchObject({ status: "ok", affected: 1 });
    const p = await run("UPDATE scratch SET v = 'all'");
    expect(p.status).toBe("pending_approval");
    expect(p.preview).toMatchObject({ command: "UPDATE", affected: 8, keyColumns: ["id"] });
    expect(p.preview.after).toHaveLength(5);
    expect(p.preview.before.map((r: unknown[]) => r[1])).not.toContain("all");
    expect((await target.query("SELECT count(*)::int AS n FROM scratch WHERE v = 'all'")).rows[0].n).toBe(0);
  });
  it("a writing CTE under a SELECT: pending, no row count taken from the SELECT's rows, nothing removed", async () => {
    const before = await scratchRows();
    const p = await run("WITH d AS (DELETE FROM scratch WHERE id <= 3 RETURNING id) SELECT count(*) FROM d");
    expect(p.status).toBe("pending_approval");
    expect(p.preview).toMatchObject({ command: "DELETE", table: "public.scratch", affected: null, before: [], after: [] });
    expect(p.preview.notes.join(" ")).toMatch(/only a single INSERT, UPDATE or DELETE has a row preview/);
    expect(await scratchRows()).toBe(before);
  });
});

describe("a confirmation", () => {
  it("confirmed by its requester it runs; once the link requires a lead's approval instead, the confirmation no longer suffices", async () => {
    const confirmScope = (approval: string) => ({ access: "read", tables: { playlist: { access: "write", approval } }, limits: { maxRows: 100, statementTimeoutMs: 5000 } });
    const own = await world.addLink(confirmScope("confirm"), undefined, gatewayUrl);
    const exec = async (sql: string, requestId?: string) =>
      (await mcpRequest(own.url, own.key, "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql, ...(requestId ? { requestId } : {}) } })).json.result.structuredContent;
    const confirm = (id: string) => decideWriteRequest(world.prisma, { teamId: world.teamId, id, deciderId: world.userId, decision: "approve", via: "dashboard" });
    const names = async () => (await target.query("SELECT name FROM playlist WHERE playlist_id IN (1, 2) ORDER BY playlist_id")).rows.map((r) => r.name as string);
    const first = await exec("UPDATE playlist SET name = name || ' (c)' WHERE playlist_id = 1");
    expect(first).toMatchObject({ status: "pending_approval", kind: "confirm" });
    expect(first.message).toMatch(/You \(the caller\) must confirm/);
    await confirm(first.requestId);
    const start = await names();
    expect(await exec("UPDATE playlist SET name = name || ' (c)' WHERE playlist_id = 1", first.requestId)).toMatchObject({ status: "ok", affected: 1 });
    expect((await names())[0]).toBe(`${start[0]} (c)`);
    const second = await exec("UPDATE playlist SET name = name || ' (c)' WHERE playlist_id = 2");
    await confirm(second.requestId);
    await meta.query("UPDATE links SET scope = $2 WHERE id = $1", [own.linkId, JSON.stringify(confirmScope("writes"))]);
    await waitFor(async () => (await exec("UPDATE playlist SET name = name WHERE playlist_id = -1")).kind, (k) => k === "approval", 3_000, 50);
    const refused = await exec("UPDATE playlist SET name = name || ' (c)' WHERE playlist_id = 2", second.requestId);
    expect(refused.refusal.ruleId).toBe("write_request_not_approved");
    expect(refused.refusal.reason).toMatch(/now requires a lead's approval/);
    expect((await names())[1]).toBe(start[1]);
  });
});

describe("the Playground", () => {
  it("answers a write that needs approval with the pending request, never runs it", async () => {
    const before = String((await target.query("SELECT total FROM invoice WHERE invoice_id = 3")).rows[0]!.total);
    const r = await fetch(`${internalUrl}/internal/links/${link.linkId}/playground`, {
      method: "POST",
      headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
      body: JSON.stringify({ sql: "UPDATE invoice SET total = 0 WHERE invoice_id = 3", userId: world.userId }),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { verdict: { allowed: boolean; ruleId?: string; reason?: string }; pending?: { requestId: string; preview: { affected: number } } };
    expect(body.verdict).toMatchObject({ allowed: false, ruleId: "approval_required" });
    expect(body.pending?.preview.affected).toBe(1);
    expect(String((await target.query("SELECT total FROM invoice WHERE invoice_id = 3")).rows[0]!.total)).toBe(before);
    expect((await meta.query("SELECT status FROM write_requests WHERE id = $1", [body.pending!.requestId])).rows[0].status).toBe("pending");
  });
});
