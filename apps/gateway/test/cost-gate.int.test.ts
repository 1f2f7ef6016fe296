import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, createApiKey, createUser, setMemberAttributes } from "@portcullis/db/operations";
import { auditEvents, GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * The cost gate (issue 15) through the real gateway on Chinook: a read whose planner estimate exceeds
 * limits.maxEstimatedCost / maxEstimatedRows is refused before it runs, with the estimate and the limit
 * in words; the estimate is of the statement that would run (a row filter's rewrite lowers it).
 */
let world: GatewayWorld;
let target: pg.Client;
let gatewayUrl: string;
let costLink: { linkId: string; key: string };
let rowsLink: { linkId: string; key: string };
let plainLink: { linkId: string; key: string };
let filtered: { linkId: string; ownerKey: string; memberKey: string };
let writeCost: { linkId: string; key: string };
let writePlain: { linkId: string; key: string };
let adminCost: { linkId: string; key: string };
let approvalCost: { linkId: string; key: string };

// Chinook: track 3,503 rows, invoice_line 2,240; their cross product ~7.8 M rows.
const CROSS = "SELECT t.name, l.quantity FROM track t CROSS JOIN invoice_line l";
const SMALL = "SELECT name FROM genre WHERE genre_id = $1";

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  gatewayUrl = started.url;
  const limits = { maxRows: 100, statementTimeoutMs: 5000 };
  const cost = await world.addLink({ access: "read", limits: { ...limits, maxEstimatedCost: 50_000 } });
  const rows = await world.addLink({ access: "read", limits: { ...limits, maxEstimatedRows: 1_000 } });
  const plain = await world.addLink({ access: "read", limits });
  costLink = { linkId: cost.linkId, key: cost.key };
  for (const [name, scope] of [
    ["writeCost", { access: "write", limits: { ...limits, maxEstimatedCost: 50_000 } }],
    ["writePlain", { access: "write", limits }],
    ["adminCost", { access: "admin", limits: { ...limits, maxEstimatedCost: 50_000 } }],
    ["approvalCost", { access: "write", tables: { genre: { approval: "writes" } }, limits: { ...limits, maxEstimatedCost: 50_000 } }],
  ] as const) {
    const l = await world.addLink(scope);
    const fixture = { linkId: l.linkId, key: l.key };
    if (name === "writeCost") writeCost = fixture;
    else if (name === "writePlain") writePlain = fixture;
    else if (name === "adminCost") adminCost = fixture;
    else approvalCost = fixture;
  }
  rowsLink = { linkId: rows.linkId, key: rows.key };
  plainLink = { linkId: plain.linkId, key: plain.key };
  // A row-filtered customer table: the rewrite's filter lowers the row estimate below the limit.
  const f = await world.addLink({
    access: "read",
    tables: { customer: { rowFilter: "support_rep_id = {{member.attr.rep_id}}" } },
    limits: { ...limits, maxEstimatedRows: 30 },
  });
  const user = await createUser(world.prisma, { email: `cost-${randomUUID().slice(0, 6)}@example.com` });
  await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
  await world.prisma.linkAccess.create({ data: { linkId: f.linkId, userId: user.id } });
  await setMemberAttributes(world.prisma, { teamId: world.teamId, actorUserId: world.userId }, { linkId: f.linkId, userId: user.id, values: { rep_id: "3" } });
  const memberKey = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: f.linkId, userId: user.id, name: "m" })).key;
  filtered = { linkId: f.linkId, ownerKey: f.key, memberKey };
  target = new pg.Client({ connectionString: world.target.url });
  await target.connect();
  // Planner statistics as a fresh restore would have them after autovacuum.
  await target.query("ANALYZE");
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await world?.close();
});

const sql = (link: { linkId: string; key: string }, text: string, params?: unknown[]) =>
  mcpRequest(`${gatewayUrl}/mcp/${link.linkId}`, link.key, "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql: text, ...(params ? { params } : {}) } });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of either arm
const data = (a: Awaited<ReturnType<typeof mcpRequest>>): Record<string, any> => a.json.result.structuredContent;

async function activeBackendsRunning(text: string): Promise<number> {
  const { rows } = await target.query("SELECT count(*)::int AS n FROM pg_stat_activity WHERE query = $1 AND pid <> pg_backend_pid()", [text]);
  return rows[0].n as number;
}

describe("cost gate", () => {
  it("refuses a big cross join before it runs, naming the estimate and the limit; a small read passes", async () => {
    const truth = (await target.query(`EXPLAIN (FORMAT JSON) ${CROSS}`)).rows[0]["QUERY PLAN"][0].Plan;
    expect(truth["Total Cost"]).toBeGreaterThan(50_000);
    // Catalogs loaded first, so the timings below are of the statements alone.
    await Promise.all([sql(costLink, SMALL, [1]), sql(plainLink, SMALL, [1])]);
    const refused = await sql(costLink, CROSS);
    expect(refused.json.result.isError).toBe(true);
    const body = data(refused);
    expect(body.status).toBe("refused");
    expect(body.refusal.ruleId).toBe("estimated_cost_exceeded");
    expect(body.refusal.reason).toMatch(/Total Cost of the plan's top node/);
    expect(body.refusal.reason).toMatch(/50,000 \(limits\.maxEstimatedCost\)/);
    expect(body.refusal.reason).toMatch(/nothing was run/);
    // The estimate in the words is the planner's own figure for this statement.
    const shown = Number(/top node\) is ([0-9.,e]+);/.exec(body.refusal.reason)![1]!.replaceAll(",", ""));
    expect(Math.abs(shown - truth["Total Cost"]) / truth["Total Cost"]).toBeLessThan(0.01);
    expect(await activeBackendsRunning(CROSS)).toBe(0);
    // Refused from the plan, before running: counting the 7.8 M-row product takes the plain link far
    // longer than the gate takes to refuse it.
    const COUNT = `SELECT count(*) FROM (${CROSS}) x`;
    let started = performance.now();
    expect(data(await sql(costLink, COUNT)).refusal.ruleId).toBe("estimated_cost_exceeded");
    const gated = performance.now() - started;
    started = performance.now();
    expect(data(await sql(plainLink, COUNT)).rows).toEqual([[String(3503 * 2240)]]);
    const ran = performance.now() - started;
    console.info(`count over the cross join: refused by the gate in ${gated.toFixed(0)} ms, run unlimited in ${ran.toFixed(0)} ms`);
    expect(gated * 2).toBeLessThan(ran);

    const small = await sql(costLink, SMALL, [1]);
    expect(data(small).status).toBe("ok");
    expect(data(small).rows).toEqual([["Rock"]]);
    // The same cross join without a limit runs (cut at the link's row limit).
    const plain = await sql(plainLink, CROSS);
    expect(data(plain).status).toBe("ok");
    expect(data(plain).rows).toHaveLength(100);
  });

  it("EXPLAIN ANALYZE runs the statement, so it is gated on the statement's plan; a plain EXPLAIN is not", async () => {
    const explain = (analyze: boolean) =>
      mcpRequest(`${gatewayUrl}/mcp/${rowsLink.linkId}`, rowsLink.key, "2026-07-28", "tools/call", { name: "explain_query", arguments: { sql: "SELECT * FROM track", analyze } });
    const analyzed = data(await explain(true));
    expect(analyzed.status).toBe("refused");
    expect(analyzed.refusal.ruleId).toBe("estimated_rows_exceeded");
    expect(analyzed.refusal.reason).toMatch(/is 3,503 rows/);
    expect(data(await sql(rowsLink, "EXPLAIN (ANALYZE, COSTS false) SELECT * FROM track")).refusal.ruleId).toBe("estimated_rows_exceeded");
    expect(data(await sql(rowsLink, "EXPLAIN ANALYZE SELECT * FROM track WHERE track_id < $1", [50])).status).toBe("ok");
    expect(data(await explain(false)).plan).toMatch(/Seq Scan on track/);
  });

  it("refuses on the row estimate with its own rule; a plain explain_query is not gated", async () => {
    const refused = data(await sql(rowsLink, "SELECT * FROM track"));
    expect(refused.status).toBe("refused");
    expect(refused.refusal.ruleId).toBe("estimated_rows_exceeded");
    expect(refused.refusal.reason).toMatch(/\(the Plan Rows of the plan's top node\) is 3,503 rows; this link's limit is 1,000 rows \(limits\.maxEstimatedRows\)/);
    expect(data(await sql(rowsLink, "SELECT * FROM track WHERE track_id < $1", [50])).status).toBe("ok");
    const explained = await mcpRequest(`${gatewayUrl}/mcp/${rowsLink.linkId}`, rowsLink.key, "2026-07-28", "tools/call", {
      name: "explain_query",
      arguments: { sql: "SELECT * FROM track" },
    });
    expect(data(explained).plan).toMatch(/Seq Scan on track/);
    // get_permissions says so, in data and in words.
    const permissions = data(await mcpRequest(`${gatewayUrl}/mcp/${rowsLink.linkId}`, rowsLink.key, "2026-07-28", "tools/call", { name: "get_permissions", arguments: {} }));
    expect(permissions.costLimits).toEqual({ maxEstimatedRows: 1000 });
    expect(permissions.summary).toMatch(/Statements \(reads and writes the planner can estimate\) with more than 1,000 estimated rows \(EXPLAIN's Plan Rows\) are refused before they run/);
  });

  it("estimates the rewritten statement: the member's row filter lowers the estimate under the limit", async () => {
    const q = "SELECT customer_id, first_name FROM customer";
    // Owners hold no rep_id attribute: an unbound attribute filters out every row, so both callers get
    // a rewrite; the member's is bound to rep 3 (21 of 59 customers), under the 30-row limit.
    const whole = (await target.query(`EXPLAIN (FORMAT JSON) ${q}`)).rows[0]["QUERY PLAN"][0].Plan["Plan Rows"];
    expect(whole).toBeGreaterThan(30);
    const member = data(await sql({ linkId: filtered.linkId, key: filtered.memberKey }, q));
    expect(member.status).toBe("ok");
    const rep3 = (await target.query("SELECT count(*)::int AS n FROM customer WHERE support_rep_id = 3")).rows[0].n;
    expect(member.rows).toHaveLength(rep3);
    // Over the limit on the filtered link: refused, and the planner's figure (whole-table statistics,
    // rows outside the member's filter included) is not given, as explain_query redacts it.
    const wide = data(await sql({ linkId: filtered.linkId, key: filtered.memberKey }, "SELECT c.customer_id FROM customer c CROSS JOIN genre g"));
    expect(wide.refusal.ruleId).toBe("estimated_rows_exceeded");
    expect(wide.refusal.reason).toMatch(/is above the limit \(the figure is not shown/);
    expect(wide.refusal.reason).not.toMatch(/top node\) is \d/);
    // The same text on an unfiltered link with the same limit is refused: the limit is not loose.
    const unfiltered = await world.addLink({ access: "read", limits: { maxRows: 100, statementTimeoutMs: 5000, maxEstimatedRows: 30 } });
    const refused = data(await sql({ linkId: unfiltered.linkId, key: unfiltered.key }, q));
    expect(refused.refusal.ruleId).toBe("estimated_rows_exceeded");
  });

  it("gates every statement EXPLAIN accepts on a write link: each heavy shape is refused with its estimate, nothing ran", async () => {
    // Genre 1 is "Rock"; 9100 is a row a DELETE would remove; the cross product has 3503 × 2240 rows.
    await target.query("INSERT INTO genre (genre_id, name) VALUES (9100, 'keep') ON CONFLICT DO NOTHING");
    const heavy = `SELECT count(*) AS c FROM (${CROSS}) y`;
    const n = 3503 * 2240;
    const shapes: Record<string, string> = {
      "SELECT … FOR UPDATE": `SELECT g.genre_id, (${heavy}) AS c FROM genre g WHERE g.genre_id = 1 FOR UPDATE OF g`,
      "writing CTE + heavy read": `WITH x AS (${heavy}), u AS (UPDATE genre SET name = 'gated' WHERE genre_id = 1 RETURNING 1) SELECT c FROM x`,
      "INSERT … SELECT": `INSERT INTO genre (genre_id, name) SELECT 9000 + count(*) % 2, 'gated' FROM (${CROSS}) y`,
      "UPDATE … WHERE subquery": `UPDATE genre SET name = 'gated' WHERE genre_id = (${heavy}) - ${n - 1}`,
      "DELETE … WHERE subquery": `DELETE FROM genre WHERE genre_id = 9100 AND (${heavy}) > 0`,
      MERGE: `MERGE INTO genre g USING (SELECT 1 AS id, count(*) AS c FROM (${CROSS}) y) s ON g.genre_id = s.id WHEN MATCHED THEN UPDATE SET name = 'gated'`,
    };
    const before = (await target.query("SELECT genre_id, name FROM genre ORDER BY genre_id")).rows;
    await sql(writeCost, SMALL, [1]);
    for (const [shape, text] of Object.entries(shapes)) {
      const started = performance.now();
      const body = data(await sql(writeCost, text));
      expect(body.status, shape).toBe("refused");
      expect(body.refusal.ruleId, shape).toBe("estimated_cost_exceeded");
      expect(body.refusal.reason, shape).toMatch(/top node\) is [0-9.,e]+; this link's limit is 50,000/);
      console.info(`${shape}: refused in ${(performance.now() - started).toFixed(0)} ms`);
    }
    // By effect: genre is exactly as it was (no rename, no insert, 9100 still there).
    expect((await target.query("SELECT genre_id, name FROM genre ORDER BY genre_id")).rows).toEqual(before);
    // A FOR UPDATE counting the product: refused from the plan far sooner than it runs without a limit.
    const forUpdate = shapes["SELECT … FOR UPDATE"]!;
    let started = performance.now();
    expect(data(await sql(writeCost, forUpdate)).refusal.ruleId).toBe("estimated_cost_exceeded");
    const gated = performance.now() - started;
    started = performance.now();
    expect(data(await sql(writePlain, forUpdate)).rows).toEqual([[1, String(n)]]);
    const ran = performance.now() - started;
    console.info(`FOR UPDATE over the cross join: refused by the gate in ${gated.toFixed(0)} ms, run unlimited in ${ran.toFixed(0)} ms`);
    expect(gated * 2).toBeLessThan(ran);
    // Small writes pass and commit.
    const small = data(await sql(writeCost, "UPDATE genre SET name = $2 WHERE genre_id = $1", [9100, "small"]));
    expect(small.status).toBe("ok");
    expect((await target.query("SELECT name FROM genre WHERE genre_id = 9100")).rows).toEqual([{ name: "small" }]);
    // Utility statements EXPLAIN refuses (DDL) are not gated.
    expect(data(await sql(adminCost, "CREATE TABLE cost_gate_ddl (a int)")).status).toBe("ok");
    expect((await target.query("SELECT to_regclass('public.cost_gate_ddl') IS NOT NULL AS here")).rows).toEqual([{ here: true }]);
  });

  it("gates a write that needs approval before its dry run: refused, nothing stored or changed", async () => {
    const text = `UPDATE genre SET name = 'gated' WHERE genre_id = (SELECT count(*) FROM (${CROSS}) y) - ${3503 * 2240 - 1}`;
    const started = performance.now();
    const body = data(await sql(approvalCost, text));
    const took = performance.now() - started;
    expect(body.status).toBe("refused");
    expect(body.refusal.ruleId).toBe("estimated_cost_exceeded");
    expect(took).toBeLessThan(1500);
    expect((await target.query("SELECT name FROM genre WHERE genre_id = 1")).rows).toEqual([{ name: "Rock" }]);
    const meta = new pg.Client({ connectionString: world.meta.url });
    await meta.connect();
    try {
      expect((await meta.query("SELECT count(*)::int AS n FROM write_requests WHERE link_id = $1", [approvalCost.linkId])).rows[0].n).toBe(0);
    } finally {
      await meta.end();
    }
    // A light write on the same link is dry-run and pending as before.
    expect(data(await sql(approvalCost, "UPDATE genre SET name = name WHERE genre_id = $1", [1])).status).toBe("pending_approval");
  });

  it("estimates can be wrong: a recursive CTE the planner underestimates passes the gate and the statement timeout stops it", async () => {
    const short = await world.addLink({ access: "write", limits: { maxRows: 100, statementTimeoutMs: 1000, maxEstimatedCost: 50_000 } });
    const text = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 100000000) SELECT count(*) FROM r";
    const planned = (await target.query(`EXPLAIN (FORMAT JSON) ${text}`)).rows[0]["QUERY PLAN"][0].Plan["Total Cost"];
    expect(planned).toBeLessThan(50_000);
    const started = performance.now();
    const body = data(await sql({ linkId: short.linkId, key: short.key }, text));
    expect(body.status).toBe("failed");
    expect(body.failure.message).toMatch(/57014.*statement timeout/);
    expect(performance.now() - started).toBeLessThan(4000);
  });

  it("a small write on a limited link pays one planning round trip", async () => {
    const text = "UPDATE genre SET name = name WHERE genre_id = $1";
    const time = async (link: { linkId: string; key: string }) => {
      const runs: number[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        expect(data(await sql(link, text, [2])).status).toBe("ok");
        runs.push(performance.now() - started);
      }
      return runs.sort((a, b) => a - b)[10]!;
    };
    await time(writeCost);
    const [gated, plain] = [await time(writeCost), await time(writePlain)];
    console.info(`small UPDATE, median of 20: ${gated.toFixed(2)} ms with the gate, ${plain.toFixed(2)} ms without`);
    expect(gated).toBeLessThan(plain + 20);
  });

  it("audit events carry the rule ids of refused reads", async () => {
    const events = await waitFor(
      () => auditEvents(world),
      (list) => list.some((e) => e.ruleId === "estimated_cost_exceeded") && list.some((e) => e.ruleId === "estimated_rows_exceeded"),
      10_000,
      100,
    );
    const cost = events.find((e) => e.ruleId === "estimated_cost_exceeded" && e.sql === CROSS)!;
    expect(cost.verdict).toBe("blocked");
    expect(cost.sql).toBe(CROSS);
    expect(cost.linkId).toBe(costLink.linkId);
    expect(cost.reason).toMatch(/limits\.maxEstimatedCost/);
  });
});
