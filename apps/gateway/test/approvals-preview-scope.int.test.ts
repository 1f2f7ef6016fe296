import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, createApiKey, createUser, decideWriteRequest } from "@portcullis/db/operations";
import { parseScope, scopeHash } from "@portcullis/policy/scope";
import { GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import type { Gateway } from "../src/gateway.js";

/**
 * A stored preview (and a stored result) is what the link showed when it was taken. Once the link's
 * scope changes — a lead hides a column — get_write_request must not hand back rows read under the old
 * scope: it withholds them (counts stay) and says why (attack t19).
 */
let world: GatewayWorld;
let gateway: Gateway;
let gatewayUrl: string;
let target: pg.Client;
let meta: pg.Client;
let linkId = "";
let key = "";

const scope = {
  access: "read",
  tables: { customer: { access: "write", approval: "writes", hiddenColumns: ["phone"] } },
  limits: { maxRows: 1000, statementTimeoutMs: 5000 },
};
const narrowed = { ...scope, tables: { customer: { ...scope.tables.customer, hiddenColumns: ["phone", "fax"] } } };

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  gateway = started.gateway;
  gatewayUrl = started.url;
  linkId = (await world.addLink(scope, undefined, gatewayUrl)).linkId;
  const user = await createUser(world.prisma, { email: `p-${randomUUID().slice(0, 6)}@example.com` });
  await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
  await world.prisma.linkAccess.create({ data: { linkId, userId: user.id } });
  key = (await createApiKey(world.prisma, { teamId: world.teamId, linkId, userId: user.id, name: "p" })).key;
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

const call = (name: string, args: Record<string, unknown>) => mcpRequest(`${gatewayUrl}/mcp/${linkId}`, key, "2026-07-28", "tools/call", { name, arguments: args });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
const data = (a: Awaited<ReturnType<typeof mcpRequest>>): Record<string, any> => a.json.result.structuredContent;

describe("a stored preview after the link's scope changed", () => {
  it("withholds the preview's and the result's rows (counts stay), says why, and no hidden value is in the bytes", async () => {
    // Customers with a fax number: their values are what must not come back once fax is hidden.
    const faxed = (await target.query("SELECT customer_id, fax FROM customer WHERE fax IS NOT NULL ORDER BY customer_id LIMIT 3")).rows as { customer_id: number; fax: string }[];
    expect(faxed).toHaveLength(3);
    const [one, two] = faxed as [{ customer_id: number; fax: string }, { customer_id: number; fax: string }];
    const pending = data(await call("execute_sql", { sql: "UPDATE customer SET company = company WHERE customer_id = $1", params: [one.customer_id] }));
    expect(pending.status).toBe("pending_approval");
    expect(pending.preview.columns).toContain("fax");
    expect(JSON.stringify(pending.preview.after)).toContain(one.fax);
    // A second request approved and run, its stored result returning fax.
    const runText = "UPDATE customer SET company = company WHERE customer_id = $1 RETURNING customer_id, fax";
    const ran = data(await call("execute_sql", { sql: runText, params: [two.customer_id] }));
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id: ran.requestId, deciderId: world.userId, decision: "approve", via: "dashboard" });
    const executed = data(await call("execute_sql", { sql: runText, params: [two.customer_id], requestId: ran.requestId }));
    expect(executed.rows).toEqual([[two.customer_id, two.fax]]);
    // Same scope: the stored rows come back as they were; the stored hash is the one definition's.
    const same = data(await call("get_write_request", { requestId: pending.requestId }));
    expect(same.preview.after).toEqual(pending.preview.after);
    expect(same.preview.notes.join(" ")).not.toMatch(/scope changed/);
    const stored = (await meta.query("SELECT scope_hash FROM write_requests WHERE id = $1", [pending.requestId])).rows[0].scope_hash;
    const parsed = parseScope((await world.prisma.link.findUniqueOrThrow({ where: { id: linkId } })).scope);
    expect(parsed.ok && stored === scopeHash(parsed.scope)).toBe(true);

    // A lead hides fax on the link; wait until the gateway serves the narrowed scope.
    await meta.query("UPDATE links SET scope = $2, updated_at = now() WHERE id = $1", [linkId, JSON.stringify(narrowed)]);
    await waitFor(
      async () => data(await call("execute_sql", { sql: "SELECT fax FROM customer WHERE customer_id = $1", params: [one.customer_id] })),
      (r) => r.status === "refused",
      10_000,
      100,
    );
    for (const [id, rows] of [
      [pending.requestId, "preview"],
      [ran.requestId, "result"],
    ] as const) {
      const answer = await call("get_write_request", { requestId: id });
      const body = data(answer);
      expect(body.preview.before, rows).toEqual([]);
      expect(body.preview.after, rows).toEqual([]);
      expect(body.preview.columns, rows).toEqual([]);
      expect(body.preview.plan, rows).toBeNull();
      expect(body.preview.affected, rows).toBe(1);
      expect(body.preview.notes, rows).toContain("the link's scope changed since this preview was taken; rows are withheld — ask again to see a fresh preview");
      if (rows === "result") {
        expect(body.result.rows).toEqual([]);
        expect(body.result.columns).toEqual([]);
        expect(body.result.rowCount).toBe(1);
      }
      const wire = JSON.stringify(answer.json);
      for (const f of faxed) expect(wire, rows).not.toContain(f.fax);
      expect(wire, rows).not.toMatch(/"fax"/);
    }
  });
});
