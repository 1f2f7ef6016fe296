import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, createApiKey, createUser, decideWriteRequest } from "@portcullis/db/operations";
import { auditEvents, GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import type { Gateway } from "../src/gateway.js";

/**
 * Issue 15 through the real gateway on a real Chinook target: a write that needs a lead's approval is
 * dry-run (nothing kept), stored and answered pending; once approved it runs exactly once, only for the
 * key that asked, with the same text and parameters, against the link's current scope and catalog.
 */
let world: GatewayWorld;
let gateway: Gateway;
let gatewayUrl: string;
let target: pg.Client;
let meta: pg.Client;
const links = { one: "", two: "" };
const m: Record<"a" | "b", { id: string; keyOne: string; keyTwo: string; keyOneOther: string }> = {} as never;

const scope = {
  access: "read",
  tables: {
    invoice: { access: "write", approval: "writes" },
    customer: { access: "write", approval: "writes", rowFilter: "support_rep_id = 3", maskedColumns: { email: "email" }, hiddenColumns: ["phone"] },
    genre: { access: "write", approval: "destructive" },
  },
  limits: { maxRows: 1000, statementTimeoutMs: 5000 },
};

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  gateway = started.gateway;
  gatewayUrl = started.url;
  links.one = (await world.addLink(scope, undefined, gatewayUrl)).linkId;
  links.two = (await world.addLink(scope, undefined, gatewayUrl)).linkId;
  for (const name of ["a", "b"] as const) {
    const user = await createUser(world.prisma, { email: `${name}-${randomUUID().slice(0, 6)}@example.com` });
    await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
    await world.prisma.linkAccess.createMany({ data: [{ linkId: links.one, userId: user.id }, { linkId: links.two, userId: user.id }] });
    const key = async (linkId: string) => (await createApiKey(world.prisma, { teamId: world.teamId, linkId, userId: user.id, name })).key;
    m[name] = { id: user.id, keyOne: await key(links.one), keyTwo: await key(links.two), keyOneOther: await key(links.one) };
  }
  await gateway.accessListenerReady();
  target = new pg.Client({ connectionString: world.target.url });
  meta = new pg.Client({ connectionString: world.meta.url });
  await Promise.all([target.connect(), meta.connect()]);
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await meta?.end().catch(() => {});
  await world?.close();
});

type Answer = Awaited<ReturnType<typeof mcpRequest>>;
const call = (link: string, key: string, name: string, args: Record<string, unknown>) => mcpRequest(`${gatewayUrl}/mcp/${link}`, key, "2026-07-28", "tools/call", { name, arguments: args });
const sql = (link: string, key: string, text: string, params?: unknown[], requestId?: string) =>
  call(link, key, "execute_sql", { sql: text, ...(params ? { params } : {}), ...(requestId ? { requestId } : {}) });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
const data = (a: Answer): Record<string, any> => a.json.result.structuredContent;
const truth = async (text: string, values: unknown[] = []) => (await target.query(text, values)).rows;
const checksum = async (table: string) => String((await truth(`SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) AS s FROM ${table} t`))[0]!.s);
const requestRow = async (id: string) => (await meta.query("SELECT status, error, result, request_audit_id, execution_audit_id FROM write_requests WHERE id = $1", [id])).rows[0];
const approve = (id: string) => decideWriteRequest(world.prisma, { teamId: world.teamId, id, deciderId: world.userId, decision: "approve", via: "dashboard" });

/** A pending request for an UPDATE of one invoice's total, approved by the team owner. */
async function approvedInvoiceUpdate(invoiceId: number, key = m.a.keyOne, link = links.one) {
  const text = "UPDATE invoice SET total = total + 1 WHERE invoice_id = $1";
  const pending = data(await sql(link, key, text, [invoiceId]));
  expect(pending.status).toBe("pending_approval");
  await approve(pending.requestId);
  return { text, id: pending.requestId as string };
}
const totalOf = async (id: number) => String((await truth("SELECT total FROM invoice WHERE invoice_id = $1", [id]))[0]!.total);

describe("a write that needs approval", () => {
  it("is dry-run and answered pending: the preview is the member's view (filter, mask, hidden column), nothing changes", async () => {
    const before = await checksum("customer");
    const text = "UPDATE customer SET company = $1 WHERE country = $2";
    const answer = await sql(links.one, m.a.keyOne, text, ["Approved Co", "USA"]);
    expect(answer.json.result.isError).toBeUndefined();
    // Words first, then the preview inside the untrusted-data boundary (its rows come from the database).
    const words = String(answer.json.result.content[0].text);
    expect(words.indexOf("Nothing was run")).toBeLessThan(words.indexOf("<untrusted-data-"));
    expect(words).toMatch(/UPDATE on public\.customer: \d+ rows affected; request [0-9a-f-]{36}/);
    const p = data(answer);
    expect(p.status).toBe("pending_approval");
    expect(p.kind).toBe("approval");
    expect(p.message).toMatch(/lead's approval/);
    expect(p.message).toContain(`"requestId": "${p.requestId}"`);
    // The count is what the statement would do under the row filter, not over the whole table.
    const filtered = await truth("SELECT customer_id, email, phone FROM customer WHERE country = 'USA' AND support_rep_id = 3 ORDER BY customer_id");
    const all = await truth("SELECT count(*)::int AS n FROM customer WHERE country = 'USA'");
    expect(filtered.length).toBeGreaterThan(0);
    expect(all[0]!.n).toBeGreaterThan(filtered.length);
    const preview = p.preview;
    expect(preview.command).toBe("UPDATE");
    expect(preview.table).toBe("public.customer");
    expect(preview.affected).toBe(filtered.length);
    expect(preview.keyColumns).toEqual(["customer_id"]);
    expect(preview.columns).toContain("email");
    expect(preview.columns).not.toContain("phone");
    const col = (name: string) => preview.columns.indexOf(name);
    expect(preview.after.length).toBe(Math.min(5, filtered.length));
    expect(preview.before.length).toBe(preview.after.length);
    for (const row of preview.after) {
      expect(row[col("company")]).toBe("Approved Co");
      expect(row[col("support_rep_id")]).toBe(3);
      expect(String(row[col("email")])).toMatch(/^\*+@/);
    }
    for (const row of preview.before) {
      expect(row[col("company")]).not.toBe("Approved Co");
      expect(String(row[col("email")])).toMatch(/^\*+@/);
    }
    expect(preview.before.map((r: unknown[]) => r[col("customer_id")])).toEqual(preview.after.map((r: unknown[]) => r[col("customer_id")]));
    // No clear email and no phone (hidden) anywhere in the answer.
    const wire = JSON.stringify(answer.json);
    for (const row of filtered) {
      expect(wire).not.toContain(String(row.email));
      if (row.phone) expect(wire).not.toContain(String(row.phone));
    }
    expect(preview.plan).not.toBeNull();
    expect(await checksum("customer")).toBe(before);
    expect((await requestRow(p.requestId)).status).toBe("pending");
    const events = await waitFor(() => auditEvents(world), (es) => es.some((e) => e.writeRequestId === p.requestId));
    const event = events.find((e) => e.writeRequestId === p.requestId)!;
    expect(event).toMatchObject({ verdict: "blocked", ruleId: "approval_required", tool: "execute_sql", sql: text });
    expect((await requestRow(p.requestId)).request_audit_id).toBe(event.id);
  });

  it("a DELETE's preview shows the rows it would remove; one that fails in the dry run is not stored", async () => {
    const before = await checksum("invoice");
    const count = async () => Number((await meta.query("SELECT count(*) FROM write_requests")).rows[0]!.count);
    const stored = await count();
    // invoice_line references invoice: the DELETE fails, as it would for real.
    const failed = data(await sql(links.one, m.a.keyOne, "DELETE FROM invoice WHERE invoice_id = $1", [1]));
    expect(failed.status).toBe("failed");
    expect(failed.failure.message).toMatch(/foreign key|violates/);
    expect(await count()).toBe(stored);
    // A write that would move a row out of the member's filter is refused in the dry run, not stored.
    const mine = Number((await truth("SELECT min(customer_id) AS id FROM customer WHERE support_rep_id = 3"))[0]!.id);
    const outside = data(await sql(links.one, m.a.keyOne, "UPDATE customer SET support_rep_id = 4 WHERE customer_id = $1", [mine]));
    expect(outside.status).toBe("refused");
    expect(outside.refusal.ruleId).toBe("row_filter_violation");
    expect(await count()).toBe(stored);
    expect((await truth("SELECT support_rep_id FROM customer WHERE customer_id = $1", [mine]))[0]!.support_rep_id).toBe(3);
    // A genre nobody references: removed in the preview, still there after it.
    await target.query("INSERT INTO genre (genre_id, name) VALUES (9001, 'Preview me')");
    const p = data(await sql(links.one, m.a.keyOne, "DELETE FROM genre WHERE genre_id >= 9000"));
    expect(p.status).toBe("pending_approval");
    expect(p.preview).toMatchObject({ command: "DELETE", affected: 1, table: "public.genre", after: [] });
    expect(p.preview.before).toEqual([[9001, "Preview me"]]);
    expect(await truth("SELECT name FROM genre WHERE genre_id = 9001")).toEqual([{ name: "Preview me" }]);
    expect(await checksum("invoice")).toBe(before);
    // destructive mode: an INSERT on genre needs nobody and runs at once.
    const insert = data(await sql(links.one, m.a.keyOne, "INSERT INTO genre (genre_id, name) VALUES (9002, 'Direct')"));
    expect(insert).toMatchObject({ status: "ok", affected: 1 });
  });

  it("explain_query analyze of such a write is refused (it would run it); nothing is stored", async () => {
    const stored = Number((await meta.query("SELECT count(*) FROM write_requests")).rows[0]!.count);
    const start = await totalOf(2);
    // Admin links may EXPLAIN ANALYZE a write (rolled back); with an approval rule it still must not run.
    const admin = await world.addLink({ access: "admin", approval: "writes", limits: { maxRows: 100, statementTimeoutMs: 5000 } }, undefined, gatewayUrl);
    const explain = (link: string, key: string, analyze: boolean) => call(link, key, "explain_query", { sql: "UPDATE invoice SET total = 0 WHERE invoice_id = 2", analyze });
    const analyzed = data(await explain(admin.linkId, admin.key, true));
    expect(analyzed.status).toBe("refused");
    expect(analyzed.refusal.ruleId).toBe("approval_required");
    expect(analyzed.refusal.reason).toMatch(/explain it without analyze/);
    // A plan without ANALYZE runs nothing and is answered; other links refuse ANALYZE of writes anyway.
    expect(data(await explain(admin.linkId, admin.key, false)).status).toBe("ok");
    expect(data(await explain(links.one, m.a.keyOne, true)).status).toBe("refused");
    expect(await totalOf(2)).toBe(start);
    expect(Number((await meta.query("SELECT count(*) FROM write_requests")).rows[0]!.count)).toBe(stored);
  });
});

describe("executing an approved request", () => {
  it("runs once after approval; a second call is refused and changes nothing; the audit chain links both", async () => {
    const start = await totalOf(10);
    const { text, id } = await approvedInvoiceUpdate(10);
    expect(await totalOf(10)).toBe(start);
    const ran = data(await sql(links.one, m.a.keyOne, text, [10], id));
    expect(ran).toMatchObject({ status: "ok", affected: 1, command: "UPDATE" });
    const once = (Number(start) + 1).toFixed(2);
    expect(await totalOf(10)).toBe(once);
    const again = data(await sql(links.one, m.a.keyOne, text, [10], id));
    expect(again.refusal.ruleId).toBe("write_request_used");
    expect(await totalOf(10)).toBe(once);
    expect((await requestRow(id)).status).toBe("executed");
    const seen = data(await call(links.one, m.a.keyOne, "get_write_request", { requestId: id }));
    expect(seen).toMatchObject({ status: "ok", requestStatus: "executed", result: { affected: 1 } });
    expect(seen.decision.at).toBeTruthy();
    const events = await waitFor(() => auditEvents(world), (es) => es.filter((e) => e.writeRequestId === id).length >= 3);
    const mine = events.filter((e) => e.writeRequestId === id && e.tool === "execute_sql");
    expect(mine.map((e) => `${e.verdict}:${e.ruleId ?? ""}`).sort()).toEqual(["allowed:", "blocked:approval_required", "blocked:write_request_used"]);
    const row = await requestRow(id);
    expect(row.request_audit_id).toBe(mine.find((e) => e.ruleId === "approval_required")!.id);
    expect(row.execution_audit_id).toBe(mine.find((e) => e.verdict === "allowed")!.id);
  });

  it("its execution is written ahead under the event id the request links to: held back until that record is durable", async () => {
    const start = await totalOf(11);
    const { text, id } = await approvedInvoiceUpdate(11);
    // The journal's intent writes are held until the gate opens (the real write runs at once).
    const audit = gateway.services.audit;
    const real = audit.recordIntent.bind(audit);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const intents: string[] = [];
    audit.recordIntent = (input) => {
      const intent = real(input);
      intents.push(intent.id);
      return { ...intent, durable: intent.durable.then(() => gate) };
    };
    try {
      const running = sql(links.one, m.a.keyOne, text, [11], id);
      await waitFor(async () => intents.length, (n) => n > 0, 10_000, 10);
      await new Promise((r) => setTimeout(r, 300));
      // Judged by effect: the approved UPDATE has not run while its record is not on disk.
      expect(await totalOf(11)).toBe(start);
      open();
      expect(data(await running)).toMatchObject({ status: "ok", affected: 1 });
    } finally {
      audit.recordIntent = real;
    }
    expect(await totalOf(11)).toBe((Number(start) + 1).toFixed(2));
    const row = await requestRow(id);
    expect(row.execution_audit_id).toBe(intents[0]);
    const events = await waitFor(() => auditEvents(world), (es) => es.some((e) => e.id === intents[0]));
    const executions = events.filter((e) => e.id === intents[0]);
    expect(executions).toHaveLength(1);
    expect(executions[0]).toMatchObject({ verdict: "allowed", writeRequestId: id, rows: 1 });
  });

  it("other text, other params, another key, member or link is refused as a mismatch and nothing runs", async () => {
    const start = await totalOf(11);
    const start12 = await totalOf(12);
    const { text, id } = await approvedInvoiceUpdate(11);
    const tries = [
      sql(links.one, m.a.keyOne, `${text} `, [11], id),
      sql(links.one, m.a.keyOne, text, [12], id),
      sql(links.one, m.a.keyOneOther, text, [11], id),
      sql(links.one, m.b.keyOne, text, [11], id),
      sql(links.two, m.a.keyTwo, text, [11], id),
    ];
    for (const answer of await Promise.all(tries)) expect(data(answer).refusal?.ruleId).toBe("write_request_mismatch");
    expect(await totalOf(11)).toBe(start);
    expect(await totalOf(12)).toBe(start12);
    // Another member cannot read it either, and learns nothing of it.
    const other = data(await call(links.one, m.b.keyOne, "get_write_request", { requestId: id }));
    const missing = data(await call(links.one, m.b.keyOne, "get_write_request", { requestId: randomUUID() }));
    expect(other.failure.code).toBe("not_found");
    // The same member through another key of the link may read it (not run it); another link may not.
    expect(data(await call(links.one, m.a.keyOneOther, "get_write_request", { requestId: id }))).toMatchObject({ status: "ok", requestStatus: "approved", sql: text, params: [11] });
    expect(data(await call(links.two, m.a.keyTwo, "get_write_request", { requestId: id })).failure.code).toBe("not_found");
    expect(other.failure.message.replace(id, "X")).toBe(missing.failure.message.replace(/[0-9a-f-]{36}/, "X"));
    expect((await requestRow(id)).status).toBe("approved");
    expect(data(await sql(links.one, m.a.keyOne, text, [11], id)).status).toBe("ok");
    expect(await totalOf(11)).toBe((Number(start) + 1).toFixed(2));
  });

  it("ten concurrent executions: exactly one runs", async () => {
    const start = await totalOf(20);
    const { text, id } = await approvedInvoiceUpdate(20);
    const answers = await Promise.all(Array.from({ length: 10 }, () => sql(links.one, m.a.keyOne, text, [20], id)));
    const outcomes = answers.map((a) => data(a).status === "ok" ? "ok" : data(a).refusal?.ruleId);
    expect(outcomes.filter((o) => o === "ok")).toHaveLength(1);
    expect(outcomes.filter((o) => o === "write_request_used")).toHaveLength(9);
    expect(await totalOf(20)).toBe((Number(start) + 1).toFixed(2));
  });

  it("pending, rejected and expired requests are refused", async () => {
    const start = await totalOf(30);
    const text = "UPDATE invoice SET total = total + 1 WHERE invoice_id = $1";
    const pending = data(await sql(links.one, m.a.keyOne, text, [30]));
    expect(data(await sql(links.one, m.a.keyOne, text, [30], pending.requestId)).refusal.ruleId).toBe("write_request_not_approved");
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id: pending.requestId, deciderId: world.userId, decision: "reject", comment: "not today", via: "dashboard" });
    const rejected = data(await sql(links.one, m.a.keyOne, text, [30], pending.requestId));
    expect(rejected.refusal.ruleId).toBe("write_request_not_approved");
    expect(rejected.refusal.reason).toContain("not today");
    const { id } = await approvedInvoiceUpdate(30);
    await meta.query("UPDATE write_requests SET execute_before = now() - interval '1 second' WHERE id = $1", [id]);
    expect(data(await sql(links.one, m.a.keyOne, text, [30], id)).refusal.ruleId).toBe("write_request_expired");
    expect(await totalOf(30)).toBe(start);
  });

  it("a catalog change since the request is write_request_schema_changed", async () => {
    const start = await totalOf(40);
    const { text, id } = await approvedInvoiceUpdate(40);
    await target.query("ALTER TABLE genre ADD COLUMN approval_probe integer");
    gateway.services.catalogs.invalidate(world.connectionId);
    expect(data(await sql(links.one, m.a.keyOne, text, [40], id)).refusal.ruleId).toBe("write_request_schema_changed");
    expect(await totalOf(40)).toBe(start);
  });

  it("a function body replaced directly in the database after the approval is write_request_schema_changed, with no cache to wait for", async () => {
    await target.query("CREATE OR REPLACE FUNCTION approval_probe_fn() RETURNS integer LANGUAGE sql AS 'SELECT 1'");
    gateway.services.catalogs.invalidate(world.connectionId);
    const start = await totalOf(45);
    const { text, id } = await approvedInvoiceUpdate(45);
    // Not through the gateway, and the gateway's cached catalog is not told: the execution reloads it.
    await target.query("CREATE OR REPLACE FUNCTION approval_probe_fn() RETURNS integer LANGUAGE sql AS 'SELECT 2'");
    expect(data(await sql(links.one, m.a.keyOne, text, [45], id)).refusal.ruleId).toBe("write_request_schema_changed");
    expect(await totalOf(45)).toBe(start);
  });

  it("a scope narrowed after the approval refuses the execution, marks the request failed, runs nothing", async () => {
    const start = await totalOf(50);
    const { text, id } = await approvedInvoiceUpdate(50);
    const narrowed = { ...scope, tables: { ...scope.tables, invoice: { access: "read" } } };
    await meta.query("UPDATE links SET scope = $2 WHERE id = $1", [links.one, JSON.stringify(narrowed)]);
    // Wait until the gateway serves the narrowed scope (a plain EXPLAIN of a write is then refused), so the
    // execution below is judged against it.
    await waitFor(async () => data(await call(links.one, m.a.keyOne, "explain_query", { sql: "UPDATE invoice SET total = 0 WHERE invoice_id = -1" })).status, (s) => s === "refused", 3_000, 50);
    const answer = data(await sql(links.one, m.a.keyOne, text, [50], id));
    expect(answer.status).toBe("refused");
    expect(answer.refusal.ruleId).not.toMatch(/^write_request_/);
    const row = await requestRow(id);
    expect(row.status).toBe("failed");
    expect(row.error).toContain(answer.refusal.ruleId);
    expect(await totalOf(50)).toBe(start);
    await meta.query("UPDATE links SET scope = $2 WHERE id = $1", [links.one, JSON.stringify(scope)]);
  });
});
