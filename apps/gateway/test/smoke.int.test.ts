import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, connectClient, toolText } from "./fixtures.js";

let world: GatewayWorld;
let url: string;
beforeAll(async () => {
  world = await GatewayWorld.create();
  ({ url } = await world.startGateway());
});
afterAll(() => world?.close());

test("smoke", async () => {
  const link = await world.addLink({ access: "read", schemas: ["public"] });
  const client = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  const tools = await client.listTools();
  console.log(tools.tools.map((t) => t.name));
  const schema = await client.callTool({ name: "get_schema", arguments: {} });
  console.log(toolText(schema).slice(0, 1500), Buffer.byteLength(toolText(schema)));
  const r = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT * FROM album ORDER BY album_id LIMIT 3" } });
  console.log(toolText(r));
  const r2 = await client.callTool({ name: "execute_sql", arguments: { sql: "DELETE FROM album" } });
  console.log(toolText(r2));
  const r3 = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT nope FROM album" } });
  console.log(toolText(r3));
  const r4 = await client.callTool({ name: "explain_query", arguments: { sql: "SELECT * FROM album WHERE album_id = $1", params: [1] } });
  console.log(toolText(r4));
  const r5 = await client.callTool({ name: "get_permissions", arguments: {} });
  console.log(toolText(r5));
  expect(true).toBe(true);
  await client.close();
});
