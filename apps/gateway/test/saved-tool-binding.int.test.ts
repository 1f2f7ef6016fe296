import { getKeyring } from "@portcullis/db/secrets";
import { targetPolicyFromEnv } from "@portcullis/db/target";
import * as policy from "@portcullis/policy";
import { addLinkDatabase, createLinkTool, removeLinkDatabase, updateLinkDatabase, updateLinkTool } from "@portcullis/db/operations";
import { createEmptyDatabase, withClient, type TestDatabase } from "@portcullis/db/testing";
import { parseScope } from "@portcullis/policy";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditEvents, GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import { addConnection, parseTargetUrlForTests } from "./operations.js";

/**
 * Round 2, L2: a saved tool found its database by name only. Removed and added again under the same
 * name on another connection, `ledger` would run the tool there — SQL checked against the old server
 * at save time. Two real ledger databases A and B and a real gateway: after the swap the tool runs
 * nothing on B (rows unchanged, no rows returned) and is audited blocked; saved again, it runs on B.
 */
let world: GatewayWorld;
let ledgerA: TestDatabase;
let ledgerB: TestDatabase;
let gateway = "";
const ids = { link: "", a: "", b: "" };

const LEDGER_SCOPE = { access: "read", tables: { accounts: { access: "write" } }, limits: { maxRows: 100, statementTimeoutMs: 5000 } };
const CHANGED = /^the database this tool was saved for changed; an admin must save it again/;

async function ledger(label: string): Promise<TestDatabase> {
  const db = await createEmptyDatabase(`toolbind${label}`);
  await withClient(db.url, (c) =>
    c.query(`CREATE TABLE accounts (account_id int PRIMARY KEY, balance int NOT NULL);
      CREATE TABLE whoami (name text NOT NULL);
      INSERT INTO accounts VALUES (1, 100); INSERT INTO whoami VALUES ('${label}');`),
  );
  return db;
}

beforeAll(async () => {
  world = await GatewayWorld.create();
  [ledgerA, ledgerB] = [await ledger("A"), await ledger("B")];
  const keyring = getKeyring(world.secretKeys);
  ids.a = (await addConnection(world.prisma, { teamId: world.teamId, name: "ledger-a", fields: parseTargetUrlForTests(ledgerA.url), test: false }, keyring)).id;
  ids.b = (await addConnection(world.prisma, { teamId: world.teamId, name: "ledger-b", fields: parseTargetUrlForTests(ledgerB.url), test: false }, keyring)).id;
  const link = await world.addLink({ access: "read", limits: { maxRows: 100, statementTimeoutMs: 5000 } });
  ids.link = link.linkId;
  gateway = (await world.startGateway()).url;
  apiKey = link.key;
}, 120_000);

afterAll(async () => {
  await world?.close();
  await ledgerA?.drop().catch(() => {});
  await ledgerB?.drop().catch(() => {});
});

let apiKey = "";
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
type Data = Record<string, any>;
const call = async (name: string, args: Record<string, unknown>): Promise<Data> =>
  (await mcpRequest(`${gateway}/mcp/${ids.link}`, apiKey, "2026-07-28", "tools/call", { name, arguments: args })).json.result.structuredContent;
const balance = (db: TestDatabase) => withClient(db.url, async (c) => (await c.query("SELECT balance FROM accounts WHERE account_id = 1")).rows[0]?.balance);
const boundTo = async (name: string) =>
  withClient(world.meta.url, async (c) => (await c.query("SELECT connection_id::text AS id FROM link_tools WHERE link_id = $1 AND name = $2", [ids.link, name])).rows[0]?.id);
const base = () => ({ teamId: world.teamId, linkId: ids.link });
const deps = () => ({ policy, route: { policy: targetPolicyFromEnv({ TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true" }), keyring: getKeyring(world.secretKeys) } });

const WHO = { name: "who_is_ledger", description: "Which ledger this is", sql: "SELECT name FROM whoami WHERE $1::int > 0", databaseName: "ledger", parameters: [{ name: "n", type: "integer" as const, description: "", required: true }] };
const ZERO = { name: "zero_balance", description: "Zeroes an account", sql: "UPDATE accounts SET balance = 0 WHERE account_id = $1", databaseName: "ledger", parameters: [{ name: "id", type: "integer" as const, description: "", required: true }] };

async function untilLedgerIs(label: "A" | "B") {
  await waitFor(() => call("execute_sql", { sql: "SELECT name FROM whoami", database: "ledger" }), (d) => d?.status === "ok" && d.rows?.[0]?.[0] === label, 10_000, 50);
}

describe("a saved tool follows the connection it was saved on, not its database's name", () => {
  test("ledger removed and re-added on B: both tools refuse in words, B's rows unchanged, audited blocked; saved again, they run on B", async () => {
    await addLinkDatabase(world.prisma, { ...base(), name: "ledger", connectionId: ids.a, scope: LEDGER_SCOPE }, { parseScope });
    await untilLedgerIs("A");
    const who = await createLinkTool(world.prisma, { ...base(), createdById: world.userId, tool: WHO }, deps());
    const zero = await createLinkTool(world.prisma, { ...base(), createdById: world.userId, tool: ZERO }, deps());
    expect([await boundTo(WHO.name), await boundTo(ZERO.name)]).toEqual([ids.a, ids.a]);
    const onA = await waitFor(() => call(WHO.name, { n: 1 }), (d) => d?.status === "ok", 10_000, 50);
    expect(onA.rows).toEqual([["A"]]);

    await removeLinkDatabase(world.prisma, { ...base(), name: "ledger" });
    await addLinkDatabase(world.prisma, { ...base(), name: "ledger", connectionId: ids.b, scope: LEDGER_SCOPE }, { parseScope });
    await untilLedgerIs("B");
    const read = await call(WHO.name, { n: 1 });
    expect(read.status).toBe("refused");
    expect(read.rows).toBeUndefined();
    expect(read.refusal.reason).toMatch(CHANGED);
    const write = await call(ZERO.name, { id: 1 });
    expect(write.status).toBe("refused");
    expect(write.refusal.ruleId).toBe("saved_tool_database_changed");
    expect([await balance(ledgerA), await balance(ledgerB)]).toEqual([100, 100]);
    const events = await waitFor(
      () => auditEvents(world),
      (all) => all.filter((e) => e.ruleId === "saved_tool_database_changed").length >= 2,
    );
    const blocked = events.filter((e) => e.ruleId === "saved_tool_database_changed");
    expect(blocked.map((e) => [e.tool, e.verdict]).sort()).toEqual([
      [WHO.name, "blocked"],
      [ZERO.name, "blocked"],
    ]);

    // An admin saves them again: checked on B, bound to B, and they run there.
    await updateLinkTool(world.prisma, { ...base(), id: who.id, tool: WHO }, deps());
    await updateLinkTool(world.prisma, { ...base(), id: zero.id, tool: ZERO }, deps());
    expect([await boundTo(WHO.name), await boundTo(ZERO.name)]).toEqual([ids.b, ids.b]);
    const onB = await waitFor(() => call(WHO.name, { n: 1 }), (d) => d?.status === "ok", 10_000, 50);
    expect(onB.rows).toEqual([["B"]]);
    expect((await call(ZERO.name, { id: 1 })).status).toBe("ok");
    expect([await balance(ledgerA), await balance(ledgerB)]).toEqual([100, 0]);
  });

  test("ledger moved to A in place (same name, another connection): the tool bound to B refuses until saved again", async () => {
    await withClient(ledgerB.url, (c) => c.query("UPDATE accounts SET balance = 100"));
    await updateLinkDatabase(world.prisma, { ...base(), name: "ledger", connectionId: ids.a }, { parseScope });
    await untilLedgerIs("A");
    const write = await call(ZERO.name, { id: 1 });
    expect(write.status).toBe("refused");
    expect(write.refusal.reason).toMatch(CHANGED);
    expect([await balance(ledgerA), await balance(ledgerB)]).toEqual([100, 100]);
  });

  test("a tool never bound (NULL, as the backfill leaves a vanished name) runs nowhere", async () => {
    await withClient(world.meta.url, (c) => c.query("UPDATE link_tools SET connection_id = NULL WHERE link_id = $1 AND name = $2", [ids.link, WHO.name]));
    const read = await waitFor(() => call(WHO.name, { n: 1 }), (d) => d?.status === "refused", 10_000, 50);
    expect(read.refusal.reason).toMatch(CHANGED);
  });
});
