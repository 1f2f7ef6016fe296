import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, rawPost, waitFor, type LinkFixture } from "./fixtures.js";

/**
 * 2025 transports: a client may end its session with DELETE, after which requests bearing that session
 * id MUST get 404 — on every gateway instance, though session ids are otherwise stateless.
 */
let world: GatewayWorld;
let first: string;
let second: string;
let link: LinkFixture;

beforeAll(async () => {
  world = await GatewayWorld.create();
  first = (await world.startGateway()).url;
  second = (await world.startGateway()).url;
  link = await world.addLink({ access: "read", schemas: ["public"] });
});
afterAll(() => world?.close());

const at = (base: string) => `${base}/mcp/${link.linkId}`;
const auth = () => ({ authorization: `Bearer ${link.key}`, "mcp-protocol-version": "2025-11-25" });
const list = { jsonrpc: "2.0", id: 2, method: "tools/list" };

async function initialize(base: string): Promise<string> {
  const init = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "ender", version: "1" } } };
  const r = await rawPost(at(base), init, { authorization: `Bearer ${link.key}` });
  expect(r.status).toBe(200);
  return r.headers.get("mcp-session-id")!;
}

test("DELETE ends the session: its id gets 404 on every instance; other sessions and a new initialize keep working", async () => {
  const ended = await initialize(first);
  const other = await initialize(first);
  expect((await rawPost(at(first), list, { ...auth(), "mcp-session-id": ended })).status).toBe(200);

  const del = await fetch(at(first), { method: "DELETE", headers: { ...auth(), "mcp-session-id": ended } });
  expect(del.status).toBe(204);

  const here = await rawPost(at(first), list, { ...auth(), "mcp-session-id": ended });
  expect(here.status).toBe(404);
  expect(here.json).toMatchObject({ id: 2, error: { message: expect.stringContaining("initialize") } });
  // The other instance hears of it through the revocation channel.
  await waitFor(
    () => rawPost(at(second), list, { ...auth(), "mcp-session-id": ended }),
    (r) => r.status === 404,
  );
  const get = await fetch(at(second), { headers: { ...auth(), accept: "text/event-stream", "mcp-session-id": ended } });
  expect(get.status).toBe(404);
  expect((await fetch(at(second), { method: "DELETE", headers: { ...auth(), "mcp-session-id": ended } })).status).toBe(404);

  expect((await rawPost(at(second), list, { ...auth(), "mcp-session-id": other })).status).toBe(200);
  const fresh = await initialize(second);
  expect(fresh).not.toBe(ended);
  expect((await rawPost(at(second), list, { ...auth(), "mcp-session-id": fresh })).status).toBe(200);
});

test("ending a session needs the link's credential: without it, nothing is ended", async () => {
  const session = await initialize(first);
  const anonymous = await fetch(at(first), { method: "DELETE", headers: { "mcp-session-id": session } });
  expect(anonymous.status).toBe(401);
  expect((await rawPost(at(first), list, { ...auth(), "mcp-session-id": session })).status).toBe(200);
});
