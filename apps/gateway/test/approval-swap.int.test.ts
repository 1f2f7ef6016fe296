import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomUUID } from "node:crypto";
import pg from "pg";
import { addMember, createApiKey, createUser, decideWriteRequest } from "@portcullis/db/operations";
import { GatewayWorld } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import type { Gateway } from "../src/gateway.js";

/**
 * The attack review's t32: approved calls of a function whose body is flipped every few milliseconds
 * straight in the database (no DDL through a gateway) between a harmless body (delete one line) and a
 * harmful one (delete every line after it). Executing an approved request must never run the harmful
 * body, and a request refused because the code changed is spent: one attempt per approval.
 */
let world: GatewayWorld;
let gateway: Gateway;
let gatewayUrl: string;
let target: pg.Client;
let meta: pg.Client;
let link = "";
let key = "";

const HARMLESS = "CREATE OR REPLACE FUNCTION public.swap_probe() RETURNS int LANGUAGE sql VOLATILE AS 'WITH d AS (DELETE FROM invoice_line WHERE invoice_line_id = 1800 RETURNING 1) SELECT count(*)::int FROM d'";
const HARMFUL = HARMLESS.replace("invoice_line_id = 1800", "invoice_line_id > 1800");

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  gateway = started.gateway;
  gatewayUrl = started.url;
  target = new pg.Client({ connectionString: world.target.url });
  meta = new pg.Client({ connectionString: world.meta.url });
  await Promise.all([target.connect(), meta.connect()]);
  await target.query(HARMLESS);
  const added = await world.addLink(
    { access: "admin", tables: { invoice: { approval: "writes" }, invoice_line: { approval: "writes" } }, limits: { maxRows: 100, statementTimeoutMs: 15000 } },
    undefined,
    gatewayUrl,
  );
  link = added.linkId;
  // A member asks; the team owner (world.userId) approves: nobody approves their own request.
  const user = await createUser(world.prisma, { email: `swap-${randomUUID().slice(0, 6)}@example.com` });
  await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
  await world.prisma.linkAccess.create({ data: { linkId: link, userId: user.id } });
  key = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: link, userId: user.id, name: "swap" })).key;
  gateway.services.catalogs.invalidate(world.connectionId);
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await meta?.end().catch(() => {});
  await world?.close();
});

type Answer = Awaited<ReturnType<typeof mcpRequest>>;
const sql = (text: string, requestId?: string) =>
  mcpRequest(`${gatewayUrl}/mcp/${link}`, key, "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql: text, ...(requestId ? { requestId } : {}) } });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
const data = (a: Answer): Record<string, any> => a.json.result.structuredContent;
const linesAfter = async () => Number((await target.query("SELECT count(*)::int AS n FROM invoice_line WHERE invoice_line_id > 1800")).rows[0].n);

describe("an approved function call whose body is swapped outside the gateway", () => {
  it("never runs the swapped body; a request refused for changed code is spent after one attempt", async () => {
    const text = "SELECT public.swap_probe()";
    const ids: string[] = [];
    for (let i = 0; i < 8; i++) {
      const pending = data(await sql(text));
      expect(pending.status, JSON.stringify(pending)).toBe("pending_approval");
      await decideWriteRequest(world.prisma, { teamId: world.teamId, id: pending.requestId, deciderId: world.userId, decision: "approve", via: "dashboard" });
      ids.push(pending.requestId);
    }
    const before = await linesAfter();
    expect(before).toBeGreaterThan(100);
    // With nothing replaced, an approved call runs (the guard is no refusal by default): the harmless body.
    const calm = data(await sql(text));
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id: calm.requestId, deciderId: world.userId, decision: "approve", via: "dashboard" });
    const ran = data(await sql(text, calm.requestId));
    expect(ran.rows, JSON.stringify(ran)).toEqual([[1]]);
    expect(await linesAfter()).toBe(before);

    const toggler = new pg.Client({ connectionString: world.target.url });
    await toggler.connect();
    let stop = false;
    let flips = 0;
    const toggling = (async () => {
      while (!stop) {
        await toggler.query(HARMFUL);
        await new Promise((r) => setTimeout(r, 3));
        await toggler.query(HARMLESS);
        await new Promise((r) => setTimeout(r, 3));
        flips++;
      }
    })();
    const outcomes: { id: string; schemaRefusals: number; ran: boolean; last: string }[] = [];
    try {
      await new Promise((r) => setTimeout(r, 100));
      for (const id of ids) {
        let schemaRefusals = 0;
        let ran = false;
        let last = "";
        // The attacker's loop: retry while the refusal is write_request_schema_changed.
        for (let attempt = 0; attempt < 5; attempt++) {
          const answer = data(await sql(text, id));
          last = answer.refusal?.ruleId ?? (answer.rows ? "ran" : JSON.stringify(answer).slice(0, 200));
          if (answer.refusal?.ruleId === "write_request_schema_changed") schemaRefusals++;
          else {
            ran = answer.rows !== undefined;
            break;
          }
        }
        outcomes.push({ id, schemaRefusals, ran, last });
      }
    } finally {
      stop = true;
      await toggling;
      await toggler.query(HARMLESS);
      await toggler.end();
    }
    expect(flips).toBeGreaterThan(5);
    // Not one line past 1800 was deleted: the harmful body never ran.
    expect(await linesAfter()).toBe(before);
    for (const o of outcomes) {
      expect(o.schemaRefusals, JSON.stringify(o)).toBeLessThanOrEqual(1);
      // A request either ran (the harmless body) or was refused once and is now spent.
      if (!o.ran) expect(o.last, JSON.stringify(o)).toBe("write_request_used");
      const row = (await meta.query("SELECT status, error FROM write_requests WHERE id = $1", [o.id])).rows[0];
      expect(row.status, JSON.stringify(o)).toBe(o.ran ? "executed" : "failed");
      if (!o.ran) expect(row.error).toMatch(/schema changed|was replaced/);
    }
  }, 120_000);
});
