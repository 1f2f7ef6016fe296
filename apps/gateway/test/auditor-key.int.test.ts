import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, it } from "vitest";
import { addMember, createApiKey, createUser } from "@portcullis/db/operations";
import { GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * An auditor (issue 16 point 4) is never a link user. A key cannot be created for one, and a key a
 * member held before being made auditor stops working on a running gateway — by the role alone,
 * through the membership notification, even when nothing revoked the key itself and a link_access
 * row is still there (as when the CLI's plain upsert, or a hand-made row, left it behind).
 */
let world: GatewayWorld;
let url: string;
let linkId: string;
let userId: string;
let key: string;

beforeAll(async () => {
  world = await GatewayWorld.create();
  const started = await world.startGateway();
  linkId = (await world.addLink({ access: "read" })).linkId;
  url = `${started.url}/mcp/${linkId}`;
  const user = await createUser(world.prisma, { email: `aud-${randomUUID().slice(0, 6)}@example.com` });
  userId = user.id;
  await addMember(world.prisma, { teamId: world.teamId, userId, role: "member" });
  await world.prisma.linkAccess.create({ data: { linkId, userId } });
  key = (await createApiKey(world.prisma, { teamId: world.teamId, linkId, userId, name: "before" })).key;
  await started.gateway.accessListenerReady();
}, 120_000);

afterAll(async () => {
  await world?.close();
});

it("the member's key works; made auditor, the same key is refused on both eras; no new key can be made", async () => {
  for (const era of ["2026-07-28", "2025-11-25"] as const) {
    expect((await mcpRequest(url, key, era, "tools/list")).status, era).toBe(200);
  }
  await world.prisma.membership.update({ where: { teamId_userId: { teamId: world.teamId, userId } }, data: { role: "auditor" } });
  // The key row and the link_access row are untouched: only the role changed.
  expect(await world.prisma.apiKey.count({ where: { userId, revokedAt: null } })).toBe(1);
  expect(await world.prisma.linkAccess.count({ where: { userId } })).toBe(1);
  const refused = await waitFor(() => mcpRequest(url, key, "2026-07-28", "tools/list"), (a) => a.status === 401, 5_000);
  expect(refused.status).toBe(401);
  for (const era of ["2026-07-28", "2025-11-25"] as const) {
    const answer = await mcpRequest(url, key, era, "tools/call", { name: "execute_sql", arguments: { sql: "SELECT 1" } });
    expect(answer.status, era).toBe(401);
    expect(JSON.stringify(answer.json)).not.toContain("\"rows\"");
  }
  await expect(createApiKey(world.prisma, { teamId: world.teamId, linkId, userId, name: "after" })).rejects.toMatchObject({ code: "forbidden" });
  expect(await world.prisma.apiKey.count({ where: { userId } })).toBe(1);
});
