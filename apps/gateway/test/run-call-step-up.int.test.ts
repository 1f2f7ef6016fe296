import { createHash, randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { GatewayWorld, auditEvents, MODERN, modernCall, modernEnvelope, rawPost, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * Step-up over the wire, with real OAuth tokens whose grants carry operation scopes: a statement the
 * link allows but the token's scopes do not is not run, is audited as refused, and answers HTTP 403
 * insufficient_scope naming every scope to ask for (both eras); a grant with the scope runs it.
 */
let world: GatewayWorld;
let base: string;
let link: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  ({ url: base } = await world.startGateway());
  link = await world.addLink({ access: "read", schemas: ["public"], tables: { playlist: { access: "write" } } });
});
afterAll(() => world?.close());

async function tokenWith(scopes: string[], forLink: LinkFixture = link): Promise<string> {
  const token = `pca_${randomBytes(32).toString("base64url")}`;
  const client = await world.prisma.oAuthClient.create({
    data: { clientId: `https://client-${randomUUID()}.example/metadata.json`, kind: "metadata_document", name: "Step-up Client", redirectUris: [], metadata: {} },
  });
  const grant = await world.prisma.oAuthGrant.create({ data: { teamId: world.teamId, clientId: client.id, userId: world.userId, linkId: forLink.linkId, scopes } });
  await world.prisma.oAuthToken.create({
    data: { grantId: grant.id, kind: "access", tokenHash: createHash("sha256").update(token).digest("hex"), expiresAt: new Date(Date.now() + 600_000) },
  });
  return token;
}

const legacyCall = (sql: string) => ({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "execute_sql", arguments: { sql } } });
const modern = (sql: string) => modernCall(sql, 1, modernEnvelope({ name: "step-up-modern", version: "1" }));
const headersModern = { "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "execute_sql" };

async function playlistRows(id: number): Promise<number> {
  const c = new pg.Client({ connectionString: world.target.url });
  await c.connect();
  try {
    return (await c.query("SELECT 1 FROM playlist WHERE playlist_id = $1", [id])).rowCount ?? 0;
  } finally {
    await c.end();
  }
}

describe("step-up", () => {
  test.each([
    ["2025 era", legacyCall, {}],
    ["2026-07-28", modern, headersModern],
  ] as const)("%s: a read token reads, is refused a write with 403 insufficient_scope, nothing written, audited", async (_era, body, headers) => {
    const token = await tokenWith(["mcp:read"]);
    const auth = { authorization: `Bearer ${token}`, ...headers };
    const read = await rawPost(`${base}/mcp/${link.linkId}`, body("SELECT count(*) FROM playlist"), auth);
    expect(read.status).toBe(200);
    expect(read.json.result.isError).toBeFalsy();

    const id = 7000 + Math.floor(Math.random() * 1000);
    const marker = randomUUID().slice(0, 8);
    const write = await rawPost(`${base}/mcp/${link.linkId}`, body(`INSERT INTO playlist (playlist_id, name) VALUES (${id}, '${marker}')`), auth);
    expect(write.status).toBe(403);
    const challenge = write.headers.get("www-authenticate") ?? "";
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="mcp:read mcp:write"');
    expect(challenge).toContain("resource_metadata=");
    expect(await playlistRows(id)).toBe(0);
    const events = await waitFor(() => auditEvents(world), (es) => es.some((e) => e.sql?.includes(marker)));
    expect(events.filter((e) => e.sql?.includes(marker))).toEqual([expect.objectContaining({ kind: "tool_call", verdict: "blocked", ruleId: "insufficient_scope" })]);

    // The union the client asks for next: the write runs.
    const stepped = await tokenWith(["mcp:read", "mcp:write"]);
    const ok = await rawPost(`${base}/mcp/${link.linkId}`, body(`INSERT INTO playlist (playlist_id, name) VALUES (${id}, '${marker}')`), { ...auth, authorization: `Bearer ${stepped}` });
    expect(ok.status).toBe(200);
    expect(ok.json.result.structuredContent).toMatchObject({ status: "ok", statementClass: "insert", affected: 1 });
    expect(await playlistRows(id)).toBe(1);
  });

  test("in a 2025-03-26 batch, a refused write is answered as its own item: a write of the same batch that ran is acknowledged, not hidden by a 403", async () => {
    const admin = await world.addLink({ access: "admin", schemas: ["public"] });
    const token = await tokenWith(["mcp:read", "mcp:write"], admin);
    const id = 8000 + Math.floor(Math.random() * 1000);
    const batch = [
      { ...legacyCall(`INSERT INTO playlist (playlist_id, name) VALUES (${id}, 'batch')`), id: 1 },
      { ...legacyCall("CREATE TABLE step_up_batch (id int)"), id: 2 },
    ];
    const r = await rawPost(`${base}/mcp/${admin.linkId}`, batch, { authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    const byId = new Map((r.json as { id: number; result: { isError?: boolean; structuredContent: Record<string, unknown> } }[]).map((m) => [m.id, m.result]));
    expect(byId.get(1)!.structuredContent).toMatchObject({ status: "ok", affected: 1 });
    expect(byId.get(2)!.isError).toBe(true);
    expect(byId.get(2)!.structuredContent).toMatchObject({ status: "refused", refusal: { ruleId: "insufficient_scope", stepUpScopes: ["mcp:read", "mcp:write", "mcp:admin"] } });
    expect(await playlistRows(id)).toBe(1);
  });

  test("what the link itself refuses stays an ordinary refusal (200, isError), whatever the token", async () => {
    const token = await tokenWith(["mcp:read"]);
    const r = await rawPost(`${base}/mcp/${link.linkId}`, legacyCall("DELETE FROM album"), { authorization: `Bearer ${token}` });
    expect(r.status).toBe(200);
    expect(r.json.result.isError).toBe(true);
    expect(r.json.result.structuredContent.refusal.ruleId).toBe("write_not_permitted");
  });
});
