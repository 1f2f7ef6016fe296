import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GatewayWorld } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";

/**
 * The checker parses SQL as PostgreSQL does with standard_conforming_strings on. A target database
 * configured with it off reads `'\'` as an escape, so the statement the server runs is not the one that
 * was checked: a string literal can hide a subquery over a hidden column. The gateway pins the setting
 * on every session; judged by effect — the hidden column's values never come back.
 */
let world: GatewayWorld;
let gatewayUrl: string;
let link: { linkId: string; key: string };
let target: pg.Client;

beforeAll(async () => {
  world = await GatewayWorld.create();
  target = new pg.Client({ connectionString: world.target.url });
  await target.connect();
  const database = (await target.query<{ db: string }>("SELECT current_database() AS db")).rows[0]!.db;
  await target.query(`ALTER DATABASE "${database}" SET standard_conforming_strings = off`);
  gatewayUrl = (await world.startGateway()).url;
  link = await world.addLink({ access: "read", tables: { customer: { hiddenColumns: ["email"] } } }, undefined, gatewayUrl);
}, 120_000);

afterAll(async () => {
  await target?.end().catch(() => {});
  await world?.close();
});

describe("a target configured with standard_conforming_strings = off", () => {
  it("runs the statement the checker parsed: a literal cannot smuggle a subquery over a hidden column", async () => {
    const emails = (await target.query<{ email: string }>("SELECT email FROM customer WHERE email IS NOT NULL LIMIT 3")).rows.map((r) => r.email);
    expect(emails.length).toBeGreaterThan(0);
    // Sessions opened to this database start with the setting off (the attack's precondition holds).
    const probe = new pg.Client({ connectionString: world.target.url });
    await probe.connect();
    expect((await probe.query<{ standard_conforming_strings: string }>("SHOW standard_conforming_strings")).rows[0]!.standard_conforming_strings).toBe("off");
    await probe.end();

    const attack = "SELECT '\\', ' , (SELECT string_agg(email, chr(44)) FROM customer) AS leak --'";
    const answer = await mcpRequest(`${gatewayUrl}/mcp/${link.linkId}`, link.key, "2026-07-28", "tools/call", { name: "execute_sql", arguments: { sql: attack } });
    const body = JSON.stringify(answer.json);
    for (const email of emails) expect(body).not.toContain(email);
    // The checker saw two string constants; the server (pinned) returns exactly those.
    const result = answer.json.result as { isError?: boolean; structuredContent: { rows: unknown[][] } };
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent.rows).toEqual([["\\", " , (SELECT string_agg(email, chr(44)) FROM customer) AS leak --"]]);
  });
});
