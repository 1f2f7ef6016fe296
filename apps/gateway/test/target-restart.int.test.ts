import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { GatewayWorld, connectClient, toolText } from "./fixtures.js";
import { TempCluster } from "./pg-cluster.js";

/** The target database restarts mid-run: calls fail with a clear error (no host), then recover. */
let cluster: TempCluster;
let world: GatewayWorld;

beforeAll(async () => {
  cluster = await TempCluster.create();
  const admin = new pg.Client({ connectionString: cluster.url() });
  await admin.connect();
  await admin.query("CREATE TABLE things (id int primary key, label text); INSERT INTO things SELECT g, 'thing ' || g FROM generate_series(1, 10) g");
  await admin.end();
  world = await GatewayWorld.create({ target: cluster.database() });
}, 120_000);
afterAll(async () => {
  await world?.close();
  await cluster?.destroy();
});

test("a stopped target gives a clear error; the same pool recovers when it is back", async () => {
  const { url } = await world.startGateway();
  const link = await world.addLink({ access: "read" });
  const client = await connectClient(`${url}/mcp/${link.linkId}`, link.key);
  const count = () => client.callTool({ name: "execute_sql", arguments: { sql: "SELECT count(*) FROM things" } });
  expect(toolText(await count())).toContain('[["10"]]');

  await cluster.stop();
  const down = await count();
  expect(down.isError).toBe(true);
  const message = toolText(down);
  expect(message).toMatch(/database is unreachable right now \((connection refused|the connection was closed by the server|the server is shutting down or starting up)\)/);
  expect(message).not.toMatch(/127\.0\.0\.1|:\d{4,5}|portcullis/);
  // Schema tools answer from the cached catalog even while the target is down.
  expect(toolText(await client.callTool({ name: "list_tables", arguments: {} }))).toContain("things");
  // An instance that never loaded the catalog says the same clear thing.
  const { url: fresh } = await world.startGateway();
  const cold = await connectClient(`${fresh}/mcp/${link.linkId}`, link.key);
  const coldSchema = await cold.callTool({ name: "get_schema", arguments: {} });
  expect(coldSchema.isError).toBe(true);
  expect(toolText(coldSchema)).toMatch(/database is unreachable right now/);
  await cold.close();

  await cluster.start();
  // Idle connections killed by the restart were discarded: the very next call gets a fresh one.
  expect(toolText(await count())).toContain('[["10"]]');
  await client.close();
}, 90_000);
