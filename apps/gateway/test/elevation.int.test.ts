import { createHash, randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { addMember, createApiKey, createUser, decideAccessGrant, revokeAccessGrant } from "@portcullis/db/operations";
import { auditEvents, GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * Time-boxed elevation (issue 15) end to end: a member asks with request_access, an approver grants it
 * (packages/db's operation, as the dashboard and CLI do), and every gateway instance sharing the metadata
 * database applies it within a second; revoke and expiry take it away; nobody else gets it.
 */
let world: GatewayWorld;
let meta: pg.Client;
const urls: { a: string; b: string } = { a: "", b: "" };
const links = { one: "", two: "" };
const keys = { aOne: "", aTwo: "", bOne: "" };
const users = { a: "", b: "" };

// genre is readable, customer hidden: the member may ask for write on genre, never learn of customer.
const scope = { access: "read", tables: { customer: { access: "none" } }, limits: { maxRows: 100, statementTimeoutMs: 5000 } };
const WRITE = "UPDATE genre SET name = name WHERE genre_id = 1";

beforeAll(async () => {
  world = await GatewayWorld.create();
  const first = await world.startGateway();
  const second = await world.startGateway();
  urls.a = first.url;
  urls.b = second.url;
  links.one = (await world.addLink(scope)).linkId;
  links.two = (await world.addLink(scope)).linkId;
  for (const name of ["a", "b"] as const) {
    const user = await createUser(world.prisma, { email: `elev-${name}-${randomUUID().slice(0, 6)}@example.com` });
    await addMember(world.prisma, { teamId: world.teamId, userId: user.id, role: "member" });
    await world.prisma.linkAccess.createMany({ data: [{ linkId: links.one, userId: user.id }, { linkId: links.two, userId: user.id }] });
    users[name] = user.id;
  }
  keys.aOne = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: links.one, userId: users.a, name: "a1" })).key;
  keys.aTwo = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: links.two, userId: users.a, name: "a2" })).key;
  keys.bOne = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: links.one, userId: users.b, name: "b1" })).key;
  await Promise.all([first.gateway.accessListenerReady(), second.gateway.accessListenerReady()]);
  meta = new pg.Client({ connectionString: world.meta.url });
  await meta.connect();
  await setRole({ superuser: false });
}, 120_000);

afterAll(async () => {
  await meta?.end().catch(() => {});
  await world?.close();
});

/**
 * The role facts a connection test stores (what decides whether admin may reach the connection). The
 * update alone must reach the gateway: the connections trigger announces role_privileges (migration
 * 20261208100000), so no cache is invalidated by hand here.
 */
async function setRole(facts: { superuser: boolean }): Promise<void> {
  const role = { role: "portcullis_reader", superuser: facts.superuser, createRole: false, bypassRls: false, replication: false, serverRoles: [], checkedAt: new Date().toISOString() };
  await meta.query("UPDATE connections SET role_privileges = $1::jsonb WHERE id = $2", [JSON.stringify(role), world.connectionId]);
}

type Answer = Awaited<ReturnType<typeof mcpRequest>>;
const call = (gateway: string, link: string, key: string, name: string, args: Record<string, unknown>) =>
  mcpRequest(`${gateway}/mcp/${link}`, key, "2026-07-28", "tools/call", { name, arguments: args });
const sql = (gateway: string, link: string, key: string, text: string) => call(gateway, link, key, "execute_sql", { sql: text });
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of either arm
const data = (a: Answer): Record<string, any> => a.json.result.structuredContent;
const status = async (gateway: string, link: string, key: string, text = WRITE) => data(await sql(gateway, link, key, text)).status as string;

async function ask(table: string, access: string, minutes = 1, key = keys.aOne, link = links.one) {
  return data(await call(urls.a, link, key, "request_access", { table, access, minutes, reason: "fix a typo in the genre names" }));
}

/** Polls until `fn` gives `want`; the milliseconds it took. */
async function timeUntil(fn: () => Promise<string>, want: string, timeoutMs = 3_000): Promise<number> {
  const started = performance.now();
  await waitFor(fn, (s) => s === want, timeoutMs, 20);
  return performance.now() - started;
}

describe("time-boxed elevation", () => {
  let grantId = "";

  it("a member asks; the write stays refused until an approver grants it; then both gateways allow it within a second", async () => {
    const asked = await ask("genre", "write");
    expect(asked.status).toBe("pending");
    expect(asked.message).toMatch(/An approver must grant it; get_permissions shows it once active/);
    grantId = asked.grantId;
    // Deduplicated: the same request again is the same request.
    expect((await ask("genre", "write")).grantId).toBe(grantId);
    const row = (await meta.query("SELECT status::text, requested_via, user_id::text, table_key, access FROM access_grants WHERE id = $1", [grantId])).rows[0];
    expect(row).toEqual({ status: "pending", requested_via: "tool", user_id: users.a, table_key: "public.genre", access: "write" });
    const pending = data(await call(urls.a, links.one, keys.aOne, "get_permissions", {}));
    expect(pending.pendingRequests).toEqual([expect.objectContaining({ grantId, table: "public.genre", access: "write", minutes: 1 })]);
    expect(pending.grants).toEqual([]);

    const refused = data(await sql(urls.a, links.one, keys.aOne, WRITE));
    expect(refused.status).toBe("refused");
    expect(await status(urls.b, links.one, keys.aOne)).toBe("refused");

    const granted = performance.now();
    await decideAccessGrant(world.prisma, { teamId: world.teamId, id: grantId, deciderId: world.userId, decision: "grant" });
    const onA = await timeUntil(() => status(urls.a, links.one, keys.aOne), "ok");
    await timeUntil(() => status(urls.b, links.one, keys.aOne), "ok");
    const total = performance.now() - granted;
    console.info(`grant reached gateway A in ${onA.toFixed(0)} ms, both in ${total.toFixed(0)} ms`);
    expect(total).toBeLessThan(1_500);
    expect(data(await sql(urls.b, links.one, keys.aOne, WRITE)).affected).toBe(1);

    const permissions = data(await call(urls.b, links.one, keys.aOne, "get_permissions", {}));
    expect(permissions.grants).toEqual([expect.objectContaining({ grantId, table: "public.genre", access: "write" })]);
    expect(permissions.allows.tables["public.genre"] ?? permissions.allows.tables.genre).toBe("write");
    expect(permissions.pendingRequests).toEqual([]);
    // Asking again now: nothing is needed, the grant is named.
    const again = await ask("genre", "write");
    expect(again.status).toBe("granted");
    expect(again.grantId).toBe(grantId);
  });

  it("another member on the same link and the same member on another link do not get it", async () => {
    expect(await status(urls.a, links.one, keys.bOne)).toBe("refused");
    expect(await status(urls.b, links.one, keys.bOne)).toBe("refused");
    expect(await status(urls.a, links.two, keys.aTwo)).toBe("refused");
    expect(await status(urls.a, links.one, keys.aOne)).toBe("ok");
  });

  it("the audit event of a write through the grant names it", async () => {
    const events = await waitFor(
      () => auditEvents(world),
      (list) => list.some((e) => e.tool === "execute_sql" && e.verdict === "allowed" && e.sql === WRITE),
      10_000,
      100,
    );
    const writes = events.filter((e) => e.tool === "execute_sql" && e.verdict === "allowed" && e.sql === WRITE);
    expect(writes.every((e) => e.accessGrantId === grantId)).toBe(true);
    const asked = events.filter((e) => e.tool === "request_access");
    expect(asked.length).toBeGreaterThan(0);
    expect(asked[0]!.accessGrantId).toBe(grantId);
  });

  it("an early revoke takes it away on both gateways within a second", async () => {
    const revoked = performance.now();
    await revokeAccessGrant(world.prisma, { teamId: world.teamId, id: grantId, revokerId: world.userId });
    await timeUntil(() => status(urls.a, links.one, keys.aOne), "refused");
    await timeUntil(() => status(urls.b, links.one, keys.aOne), "refused");
    const total = performance.now() - revoked;
    console.info(`revoke reached both gateways in ${total.toFixed(0)} ms`);
    expect(total).toBeLessThan(1_000);
  });

  it("a grant stops at exactly its expires_at, with no message to tell the gateways", async () => {
    const asked = await ask("genre", "write");
    await decideAccessGrant(world.prisma, { teamId: world.teamId, id: asked.grantId, deciderId: world.userId, decision: "grant" });
    // Moved by SQL to 1.5 s from now (the update's own notification reloads the grant), then silence.
    const { rows } = await meta.query("UPDATE access_grants SET expires_at = clock_timestamp() + interval '1500 milliseconds' WHERE id = $1 RETURNING expires_at", [asked.grantId]);
    const expiresAt = (rows[0].expires_at as Date).getTime();
    await timeUntil(() => status(urls.a, links.one, keys.aOne), "ok");
    await timeUntil(() => status(urls.b, links.one, keys.aOne), "ok");
    const seen: { at: number; a: string; b: string }[] = [];
    while (Date.now() < expiresAt + 400) {
      const before = Date.now();
      const [a, b] = await Promise.all([status(urls.a, links.one, keys.aOne), status(urls.b, links.one, keys.aOne)]);
      seen.push({ at: before, a, b });
    }
    // Allowed while the grant ran (calls that started before its end), refused from its end on.
    expect(seen.filter((s) => s.at < expiresAt - 100).every((s) => s.a === "ok" && s.b === "ok")).toBe(true);
    expect(seen.filter((s) => s.at >= expiresAt).every((s) => s.a === "refused" && s.b === "refused")).toBe(true);
    expect(seen.filter((s) => s.at >= expiresAt).length).toBeGreaterThan(0);
  });

  it("a hidden table cannot be requested: the same answer as a table that does not exist", async () => {
    const hidden = await ask("customer", "write");
    const missing = await ask("no_such_table", "write");
    expect(hidden.status).toBe("refused");
    expect(hidden.refusal.ruleId).toBe("undefined_table");
    expect(missing.refusal.ruleId).toBe("undefined_table");
    expect(hidden.refusal.reason.replace("public.customer", "X")).toBe(missing.refusal.reason.replace("public.no_such_table", "X"));
    const stored = await meta.query("SELECT count(*)::int AS n FROM access_grants WHERE table_key IN ('public.customer', 'public.no_such_table')");
    expect(stored.rows[0].n).toBe(0);
    // A level the link gives already: nothing to ask, nothing stored.
    const read = await ask("genre", "read");
    expect(read.status).toBe("not_needed");
    expect(read.grantId).toBeNull();
  });

  it("over OAuth: asking needs no extra scope; a grant raises the link, not the token's scopes", async () => {
    const token = async (scopes: string[]) => {
      const value = `pca_${randomBytes(32).toString("base64url")}`;
      const client = await world.prisma.oAuthClient.create({
        data: { clientId: `https://client-${randomUUID()}.example/metadata.json`, kind: "metadata_document", name: "Elevation Client", redirectUris: [], metadata: {} },
      });
      const grant = await world.prisma.oAuthGrant.create({ data: { teamId: world.teamId, clientId: client.id, userId: users.b, linkId: links.two, scopes } });
      await world.prisma.oAuthToken.create({
        data: { grantId: grant.id, kind: "access", tokenHash: createHash("sha256").update(value).digest("hex"), expiresAt: new Date(Date.now() + 600_000) },
      });
      return value;
    };
    const readOnly = await token(["mcp:read"]);
    const writer = await token(["mcp:read", "mcp:write"]);
    const asked = await ask("genre", "write", 5, readOnly, links.two);
    expect(asked.status).toBe("pending");
    const row = (await meta.query("SELECT user_id::text, oauth_client_id, api_key_id FROM access_grants WHERE id = $1", [asked.grantId])).rows[0];
    expect(row.user_id).toBe(users.b);
    expect(row.oauth_client_id).not.toBeNull();
    expect(row.api_key_id).toBeNull();
    expect(await status(urls.a, links.two, writer)).toBe("refused");
    await decideAccessGrant(world.prisma, { teamId: world.teamId, id: asked.grantId, deciderId: world.userId, decision: "grant" });
    await timeUntil(() => status(urls.a, links.two, writer), "ok");
    // The read-only token is still asked to step up (HTTP 403 insufficient_scope), grant or not.
    expect((await sql(urls.a, links.two, readOnly, WRITE)).status).toBe(403);
  });

  it("admin: refused on a powerful role; on a plain role a granted admin stops applying once the role turns powerful", async () => {
    await setRole({ superuser: true });
    await waitFor(async () => (await ask("genre", "admin")).status, (s) => s === "refused", 2_000, 50);
    const powerful = await ask("genre", "admin");
    expect(powerful.refusal.ruleId).toBe("admin_not_grantable");
    expect(powerful.refusal.reason).not.toMatch(/superuser|portcullis_reader/);

    await setRole({ superuser: false });
    const asked = await waitFor(() => ask("genre", "admin", 5), (d) => d.status === "pending", 2_000, 50);
    const ddl = "CREATE INDEX IF NOT EXISTS genre_name_g2 ON genre (name)";
    expect(await status(urls.a, links.one, keys.aOne, ddl)).toBe("refused");
    await decideAccessGrant(world.prisma, { teamId: world.teamId, id: asked.grantId, deciderId: world.userId, decision: "grant" });
    await timeUntil(() => status(urls.a, links.one, keys.aOne, ddl), "ok");
    const turned = performance.now();
    await setRole({ superuser: true });
    await timeUntil(() => status(urls.a, links.one, keys.aOne, ddl), "refused");
    await timeUntil(() => status(urls.b, links.one, keys.aOne, ddl), "refused");
    expect(performance.now() - turned).toBeLessThan(1_500);
  });
});
