import { createHash, randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, createApiKey, createUser, MEMBER_ATTRIBUTE_NAME as DB_ATTRIBUTE_NAME, setMemberAttributes } from "@portcullis/db/operations";
import { MEMBER_ATTRIBUTE_NAME } from "@portcullis/policy/scope";
import { testRedisUrl } from "@portcullis/db/testing";
import type { RunningWorker } from "../../worker/src/app.js";
import { startAuditWorker } from "./durability-support.js";
import { GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import { arrayText } from "../src/execution/plan-redaction.js";
import { encodeParam } from "../src/execution/values.js";

/**
 * Issue 14 through the real gateway: row filters bound to each member's attributes, masks on the wire,
 * write checks, EXPLAIN without estimates, and the audit rows the real worker stores.
 */
let world: GatewayWorld;
let worker: RunningWorker;
let target: pg.Client;
let meta: pg.Client;
let gatewayUrl: string;
let internalUrl: string;
const links: { one: string; two: string } = { one: "", two: "" };
const members: Record<"a" | "b" | "c", { id: string; email: string; keyOne: string; keyTwo?: string }> = {} as never;

const scope = {
  access: "read",
  tables: {
    customer: { access: "write", rowFilter: "support_rep_id = {{member.attr.rep_id}}", maskedColumns: { email: "email", phone: "hash" } },
  },
  limits: { maxRows: 1000, statementTimeoutMs: 5000 },
};

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  gatewayUrl = started.url;
  internalUrl = started.internalUrl!;
  const one = await world.addLink(scope, undefined, gatewayUrl);
  const two = await world.addLink(scope, undefined, gatewayUrl);
  links.one = one.linkId;
  links.two = two.linkId;
  for (const name of ["a", "b", "c"] as const) {
    const user = await createUser(world.prisma, { email: `${name}-${randomUUID().slice(0, 6)}@example.com` });
    await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
    await world.prisma.linkAccess.createMany({ data: [{ linkId: links.one, userId: user.id }, { linkId: links.two, userId: user.id }] });
    const keyOne = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: links.one, userId: user.id, name: name })).key;
    const keyTwo = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: links.two, userId: user.id, name: name })).key;
    members[name] = { id: user.id, email: user.email, keyOne, keyTwo };
  }
  const actor = { teamId: world.teamId, actorUserId: world.userId };
  await setMemberAttributes(world.prisma, actor, { linkId: links.one, userId: members.a.id, values: { rep_id: "3" } });
  await setMemberAttributes(world.prisma, actor, { linkId: links.one, userId: members.b.id, values: { rep_id: "4" } });
  await setMemberAttributes(world.prisma, actor, { linkId: links.two, userId: members.b.id, values: { rep_id: "4" } });
  await started.gateway.accessListenerReady();
  worker = await startAuditWorker(world, testRedisUrl());
  target = new pg.Client({ connectionString: world.target.url });
  meta = new pg.Client({ connectionString: world.meta.url });
  await Promise.all([target.connect(), meta.connect()]);
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await meta?.end().catch(() => {});
  await worker?.close().catch(() => {});
  await world?.close();
});

type Answer = Awaited<ReturnType<typeof mcpRequest>>;
const call = (link: string, key: string, name: string, args: Record<string, unknown>) => mcpRequest(`${gatewayUrl}/mcp/${link}`, key, "2026-07-28", "tools/call", { name, arguments: args });
const sql = (link: string, key: string, text: string, params?: unknown[]) => call(link, key, "execute_sql", { sql: text, ...(params ? { params } : {}) });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of either arm
const data = (a: Answer): Record<string, any> => a.json.result.structuredContent;
const idsOf = (a: Answer) => (data(a).rows as unknown[][]).map((r) => Number(r[0]));
const truth = async (text: string, values: unknown[] = []) => (await target.query(text, values)).rows;

describe("row filters bound to member attributes", () => {
  it("each member sees only their rep's customers; a member without the attribute sees none", async () => {
    const q = "SELECT customer_id, support_rep_id FROM customer ORDER BY customer_id";
    const rep3 = (await truth("SELECT customer_id FROM customer WHERE support_rep_id = 3 ORDER BY 1")).map((r) => r.customer_id as number);
    const rep4 = (await truth("SELECT customer_id FROM customer WHERE support_rep_id = 4 ORDER BY 1")).map((r) => r.customer_id as number);
    expect(rep3.length).toBeGreaterThan(0);
    expect(idsOf(await sql(links.one, members.a.keyOne, q))).toEqual(rep3);
    expect(idsOf(await sql(links.one, members.b.keyOne, q))).toEqual(rep4);
    expect(data(await sql(links.one, members.c.keyOne, q)).rows).toEqual([]);
    // Aggregates, joins and subqueries see the same rows; a caller's own $1 still works.
    const count = await sql(links.one, members.a.keyOne, "SELECT count(*) FROM customer c JOIN invoice i USING (customer_id) WHERE c.country <> $1", ["Nowhere"]);
    const expected = await truth("SELECT count(*) FROM customer c JOIN invoice i USING (customer_id) WHERE c.support_rep_id = 3");
    expect(data(count).rows).toEqual([[String(expected[0]!.count)]]);
    // An attribute that is not a valid value for the filter's column: said as such, not as the server's text.
    await setMemberAttributes(world.prisma, { teamId: world.teamId, actorUserId: world.userId }, { linkId: links.one, userId: members.c.id, values: { rep_id: "abc" } });
    const bad = await waitFor(async () => data(await sql(links.one, members.c.keyOne, q)), (d) => d.status === "failed", 1_000, 50);
    expect(bad.failure.message).toMatch(/member attribute rep_id on this link is not a valid integer/);
    await world.prisma.linkMemberAttribute.deleteMany({ where: { linkId: links.one, userId: members.c.id } });
    // A server error's position would point into our rewritten text: left out.
    const cast = data(await sql(links.one, members.b.keyOne, "SELECT customer_id, 'abc'::int FROM customer"));
    expect(cast.failure.message).toMatch(/invalid input syntax for type integer/);
    expect(cast.failure.message).not.toMatch(/at character/);
    // More values than the text's $n would land on the filter's parameter: refused before running.
    const shifted = await sql(links.one, members.a.keyOne, "SELECT count(*) FROM customer WHERE country = $1", ["USA", "4"]);
    expect(data(shifted).status).toBe("failed");
    expect(data(shifted).failure.message).toMatch(/values were sent/);
  });

  it("a changed attribute applies within a second; revoking access drops the attributes", async () => {
    const q = "SELECT DISTINCT support_rep_id FROM customer";
    expect(data(await sql(links.one, members.a.keyOne, q)).rows).toEqual([[3]]);
    const changed = Date.now();
    await setMemberAttributes(world.prisma, { teamId: world.teamId, actorUserId: world.userId }, { linkId: links.one, userId: members.a.id, values: { rep_id: "5" } });
    await waitFor(async () => data(await sql(links.one, members.a.keyOne, q)).rows, (rows) => JSON.stringify(rows) === "[[5]]", 1_000, 50);
    expect(Date.now() - changed).toBeLessThan(1_000);
    await world.prisma.linkAccess.delete({ where: { linkId_userId: { linkId: links.one, userId: members.a.id } } });
    expect(await world.prisma.linkMemberAttribute.count({ where: { linkId: links.one, userId: members.a.id } })).toBe(0);
    await waitFor(async () => (await sql(links.one, members.a.keyOne, q)).status, (s) => s === 401, 1_000, 50);
  });
});

describe("member attributes over OAuth", () => {
  it("an OAuth token's principal binds its member's attributes, refreshed within a second of a change", async () => {
    const token = `pca_${randomBytes(32).toString("base64url")}`;
    const client = await world.prisma.oAuthClient.create({
      data: { clientId: `https://client-${randomUUID()}.example/metadata.json`, kind: "metadata_document", name: "Governed Client", redirectUris: [], metadata: {} },
    });
    const grant = await world.prisma.oAuthGrant.create({ data: { teamId: world.teamId, clientId: client.id, userId: members.c.id, linkId: links.two, scopes: ["mcp:read"] } });
    await world.prisma.oAuthToken.create({
      data: { grantId: grant.id, kind: "access", tokenHash: createHash("sha256").update(token).digest("hex"), expiresAt: new Date(Date.now() + 600_000) },
    });
    const q = "SELECT DISTINCT support_rep_id FROM customer";
    expect(data(await sql(links.two, token, q)).rows).toEqual([]);
    await setMemberAttributes(world.prisma, { teamId: world.teamId, actorUserId: world.userId }, { linkId: links.two, userId: members.c.id, values: { rep_id: "5" } });
    await waitFor(async () => JSON.stringify(data(await sql(links.two, token, q)).rows), (rows) => rows === "[[5]]", 1_000, 50);
  });

  it("the attribute name rule is one rule: the database operations use the policy's", () => {
    expect(DB_ATTRIBUTE_NAME.source).toBe(MEMBER_ATTRIBUTE_NAME.source);
    expect(DB_ATTRIBUTE_NAME.flags).toBe(MEMBER_ATTRIBUTE_NAME.flags);
  });
});

describe("masks on the wire", () => {
  it("never carry a clear email or phone; the hash is stable per link and differs between links", async () => {
    const clear = await truth("SELECT customer_id, email, phone FROM customer WHERE support_rep_id = 4 ORDER BY 1");
    const q = "SELECT customer_id, email, phone, upper(email) AS e2 FROM customer ORDER BY customer_id";
    const first = await sql(links.one, members.b.keyOne, q);
    const again = await sql(links.one, members.b.keyOne, q);
    const other = await sql(links.two, members.b.keyTwo!, q);
    const wire = JSON.stringify(first.json) + JSON.stringify(other.json);
    for (const row of clear) {
      expect(wire).not.toContain(row.email as string);
      if (row.phone) expect(wire).not.toContain(row.phone as string);
    }
    const rows = data(first).rows as string[][];
    expect(rows).toHaveLength(clear.length);
    for (const [i, row] of rows.entries()) {
      expect(row[1]).toBe(`***@${(clear[i]!.email as string).split("@")[1]}`);
      if (clear[i]!.phone) expect(row[2]).toMatch(/^h:[0-9a-f]{16}$/);
    }
    expect(data(again).rows).toEqual(rows);
    const hashesOne = rows.map((r) => r[2]).filter(Boolean);
    const hashesTwo = (data(other).rows as string[][]).map((r) => r[2]).filter(Boolean);
    expect(hashesTwo).toHaveLength(hashesOne.length);
    for (const [i, h] of hashesOne.entries()) expect(hashesTwo[i]).not.toBe(h);
  });
});

describe("writes on a filtered table", () => {
  it("an INSERT outside the filter is refused and writes nothing; inside it is written; an UPDATE of other rows changes nothing", async () => {
    const outside = await sql(links.one, members.b.keyOne, "INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id) VALUES (9001, 'Out', 'Side', 'out@example.com', 3)");
    expect(data(outside).status).toBe("refused");
    expect(data(outside).refusal.ruleId).toBe("row_filter_violation");
    expect(JSON.stringify(outside.json)).not.toMatch(/invalid input syntax|portcullis_row_filter_violation/);
    expect(await truth("SELECT 1 FROM customer WHERE customer_id = 9001")).toHaveLength(0);

    const inside = await sql(links.one, members.b.keyOne, "INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id) VALUES (9002, 'In', 'Side', 'in@example.com', 4)");
    expect(data(inside)).toMatchObject({ status: "ok", statementClass: "insert", command: "INSERT", affected: 1, rows: [] });
    expect(await truth("SELECT support_rep_id FROM customer WHERE customer_id = 9002")).toEqual([{ support_rep_id: 4 }]);

    const before = await truth("SELECT customer_id, company FROM customer WHERE support_rep_id = 3 ORDER BY 1");
    const update = await sql(links.one, members.b.keyOne, "UPDATE customer SET company = 'Moved' WHERE support_rep_id = 3");
    expect(data(update)).toMatchObject({ status: "ok", affected: 0 });
    expect(await truth("SELECT customer_id, company FROM customer WHERE support_rep_id = 3 ORDER BY 1")).toEqual(before);
    // A constraint error's DETAIL prints the stored row (clear email included): never on a governed link.
    const [victim] = await truth("SELECT customer_id, email FROM customer WHERE support_rep_id = 4 ORDER BY 1 LIMIT 1");
    const detail = await sql(links.one, members.b.keyOne, `UPDATE customer SET first_name = NULL WHERE customer_id = ${victim!.customer_id}`);
    expect(data(detail).status).toBe("failed");
    expect(JSON.stringify(detail.json)).not.toContain(victim!.email as string);
    expect(JSON.stringify(detail.json)).not.toMatch(/Failing row/);
    // Moving one's own row out of the filter is a violation too.
    const move = await sql(links.one, members.b.keyOne, "UPDATE customer SET support_rep_id = 3 WHERE customer_id = 9002");
    expect(data(move).refusal?.ruleId).toBe("row_filter_violation");
    expect(await truth("SELECT support_rep_id FROM customer WHERE customer_id = 9002")).toEqual([{ support_rep_id: 4 }]);
    // A write past the row limit is still checked on every row (PostgreSQL runs it whole on the first fetch).
    await target.query("INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id) SELECT g, 'Bulk', 'Row', 'b@example.com', 4 FROM generate_series(9100, 9110) g");
    const smallLink = await world.addLink({ ...scope, limits: { maxRows: 2, statementTimeoutMs: 5000 } }, undefined, gatewayUrl);
    await world.prisma.linkAccess.create({ data: { linkId: smallLink.linkId, userId: members.b.id } });
    await setMemberAttributes(world.prisma, { teamId: world.teamId, actorUserId: world.userId }, { linkId: smallLink.linkId, userId: members.b.id, values: { rep_id: "4" } });
    const key = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: smallLink.linkId, userId: members.b.id, name: "small" })).key;
    // Rows 9100..9110 in order; the last one moves outside the filter.
    const bulk = await sql(smallLink.linkId, key, "UPDATE customer SET support_rep_id = CASE WHEN customer_id = 9110 THEN 3 ELSE 4 END WHERE customer_id BETWEEN 9100 AND 9110");
    expect(data(bulk).refusal?.ruleId).toBe("row_filter_violation");
    expect(await truth("SELECT count(*)::int AS n FROM customer WHERE customer_id BETWEEN 9100 AND 9110 AND support_rep_id = 4")).toEqual([{ n: 11 }]);
    // Allowed, it reports every row it wrote even past the link's row limit of 2.
    const ok = await sql(smallLink.linkId, key, "UPDATE customer SET company = 'Bulk' WHERE customer_id BETWEEN 9100 AND 9110");
    expect(data(ok)).toMatchObject({ status: "ok", statementClass: "update", command: "UPDATE", affected: 11, rows: [], truncated: { value: false } });
    const returning = await sql(smallLink.linkId, key, "UPDATE customer SET company = 'Bulk2' WHERE customer_id BETWEEN 9100 AND 9110 RETURNING customer_id, email");
    expect(data(returning)).toMatchObject({ status: "ok", affected: 11, rowCount: 2, truncated: { value: true } });
    expect((data(returning).rows as string[][]).map((r) => r[1])).toEqual(["***@example.com", "***@example.com"]);
  });
});

describe("EXPLAIN and audit", () => {
  it("EXPLAIN of a governed query shows no row estimates, widths or costs in any format", async () => {
    for (const format of ["", "(FORMAT JSON) ", "(FORMAT YAML) ", "(FORMAT XML) "]) {
      const answer = await sql(links.one, members.b.keyOne, `EXPLAIN ${format}SELECT customer_id, email FROM customer WHERE country = 'USA'`);
      const text = JSON.stringify(data(answer).rows);
      expect(data(answer).status, JSON.stringify(data(answer))).toBe("ok");
      expect(text).not.toMatch(/rows=\d|width=\d|cost=\d|Plan Rows\\?"?:\s*\d|Plan-Rows>\d|Plan Rows: \d/);
      // The filter shows (PostgreSQL folds bound values into an EXPLAIN's plan: B's own rep id).
      expect(text).toMatch(/support_rep_id/);
    }
    const tool = await call(links.one, members.b.keyOne, "explain_query", { sql: "SELECT customer_id, email FROM customer", analyze: true });
    const plan = String(data(tool).plan);
    expect(plan).toMatch(/actual/);
    expect(plan).not.toMatch(/rows=\d|Rows Removed by Filter: \d|width=\d|cost=\d|Buffers: shared/);
  });

  it("EXPLAIN of a catalog query on a hiding link prints $n, never the hidden objects' oids or column positions", async () => {
    const hiding = await world.addLink({ access: "read", tables: { employee: { access: "none" }, customer: { hiddenColumns: ["email"] } } }, undefined, gatewayUrl);
    const [{ oid }] = await truth("SELECT 'employee'::regclass::oid::text AS oid");
    const [{ attnum, rel }] = await truth("SELECT attnum::text, attrelid::text AS rel FROM pg_attribute WHERE attrelid = 'customer'::regclass AND attname = 'email'");
    for (const q of ["EXPLAIN SELECT relname FROM pg_class", "EXPLAIN (FORMAT JSON) SELECT column_name FROM information_schema.columns WHERE table_name = 'customer'"]) {
      const answer = await sql(hiding.linkId, hiding.key, q);
      expect(data(answer).status, JSON.stringify(data(answer))).toBe("ok");
      const text = JSON.stringify(data(answer).rows);
      expect(text).toMatch(/\$\d/);
      expect(text).not.toContain(oid);
      expect(text).not.toContain(`${rel}:${attnum}`);
    }
    // arrayText prints arrays as PostgreSQL does (what the plan shows for a folded array parameter).
    for (const values of [["1", "2"], ["a b", 'q"uote', "back\\slash", "", "NULL", "null", "x,y", "{z}", "it's"], []]) {
      const [{ printed }] = await truth("SELECT $1::text[]::text AS printed", [encodeParam(values)]);
      expect(arrayText(values)).toBe(printed);
    }
  });

  it("the stored audit row has the original and rewritten SQL and the attribute names, never a value", async () => {
    const marker = randomUUID().slice(0, 8);
    await sql(links.one, members.b.keyOne, `SELECT customer_id FROM customer /* ${marker} */`);
    await sql(links.one, members.b.keyOne, `INSERT INTO customer (customer_id, first_name, last_name, email, support_rep_id) VALUES (9003, 'A', 'B', 'c@d.e', 5) /* ${marker} */`);
    const rows = await waitFor(
      async () => (await meta.query(`SELECT * FROM audit_events WHERE sql LIKE '%' || $1 || '%' ORDER BY seq`, [marker])).rows as Record<string, unknown>[],
      (rs) => rs.length >= 2,
      30_000,
    );
    const [read, write] = rows;
    expect(read).toMatchObject({ verdict: "allowed", attribute_names: ["rep_id"] });
    expect(read!.sql).toContain(marker);
    expect(read!.rewritten_sql).toMatch(/support_rep_id/);
    expect(read!.rewritten_sql).not.toBe(read!.sql);
    expect(write).toMatchObject({ verdict: "blocked", rule_id: "row_filter_violation", attribute_names: ["rep_id"] });
    expect(write!.rewritten_sql).toMatch(/portcullis_row_filter_violation/);
    // B's attribute value is "4": it appears nowhere but where the caller's own text has it.
    for (const row of rows) {
      const { sql: text, ...rest } = row;
      expect(JSON.stringify(rest)).not.toMatch(/"4"|'4'|= ?4\b/);
      expect(String(text)).not.toMatch(/'4'/);
    }
    // The chain still verifies with the new fields.
    const { verifyAuditChain } = await import("@portcullis/db/audit");
    expect((await verifyAuditChain(world.prisma, world.teamId)).ok).toBe(true);
  });

  it("the Playground answer carries the rewritten statement and binds the dashboard user's attributes", async () => {
    const r = await fetch(`${internalUrl}/internal/links/${links.one}/playground`, {
      method: "POST",
      headers: { authorization: "Bearer internal-test-token", "content-type": "application/json" },
      body: JSON.stringify({ sql: "SELECT DISTINCT support_rep_id FROM customer", userId: members.b.id }),
    });
    const body = (await r.json()) as { verdict: { rewrittenSql?: string; attributeNames?: string[] }; result?: { rows: unknown[][] } };
    expect(body.verdict.rewrittenSql).toMatch(/support_rep_id/);
    expect(body.verdict.attributeNames).toEqual(["rep_id"]);
    expect(body.result?.rows).toEqual([[4]]);
  });
});

describe("the schema tools say what is governed", () => {
  it("describe_table and get_schema mark masked columns and row-filtered tables, in data and words", async () => {
    const described = await call(links.one, members.b.keyOne, "describe_table", { table: "customer" });
    const table = data(described).table as { rowFiltered?: boolean; columns: { name: string; mask?: string }[] };
    expect(table.rowFiltered).toBe(true);
    expect(table.columns.find((c) => c.name === "email")?.mask).toBe("email");
    expect(table.columns.find((c) => c.name === "phone")?.mask).toBe("hash");
    expect(table.columns.find((c) => c.name === "city")?.mask).toBeUndefined();
    const text = described.json.result.content[0].text as string;
    expect(text).toMatch(/customer.*row-filtered/);
    expect(text).toMatch(/email \S+.*masked\(email\)/);
    const invoice = await call(links.one, members.b.keyOne, "describe_table", { table: "invoice" });
    expect(data(invoice).table.rowFiltered).toBeUndefined();
    const schema = await call(links.one, members.b.keyOne, "get_schema", {});
    expect(schema.json.result.content[0].text).toContain("masked(hash)");
  });
});
