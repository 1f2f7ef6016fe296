import { randomUUID } from "node:crypto";
import { getKeyring } from "@portcullis/db/secrets";
import { targetPolicyFromEnv } from "@portcullis/db/target";
import * as policy from "@portcullis/policy";
import {
  addLinkDatabase,
  addMember,
  createLinkTool,
  decideAccessGrant,
  decideWriteRequest,
  listAccessGrants,
  listWriteRequests,
  removeLinkDatabase,
  updateLinkDatabase,
} from "@portcullis/db/operations";
import { createEmptyDatabase, withClient, type TestDatabase } from "@portcullis/db/testing";
import { parseScope } from "@portcullis/policy";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditEvents, GatewayWorld, waitFor } from "./fixtures.js";
import { mcpRequest } from "./mcp-wire.js";
import { addConnection, createApiKey, createUser, parseTargetUrlForTests } from "./operations.js";

/**
 * Attack finding 2: grants and write requests named their database only by name, so a database removed
 * and added again under that name (another connection), or moved to another connection, inherited them.
 * Two real ledger databases, A and B, each with an `accounts` row 1 balance 100, and a real gateway. The
 * attacker's sequence must end with B's row unchanged, the old rows revoked/expired, and — should a row
 * survive by any other path — the gateway still refusing it because its connection is A's.
 */
let world: GatewayWorld;
let ledgerA: TestDatabase;
let ledgerB: TestDatabase;
let gateway = "";
const ids = { link: "", a: "", b: "", member: "" };
let memberKey = "";

const LEDGER_SCOPE = {
  access: "read",
  tables: { notes: { access: "write", approval: "writes" } },
  limits: { maxRows: 100, statementTimeoutMs: 5000 },
};
const UPDATE = "UPDATE accounts SET balance = 0 WHERE account_id = 1";
const NOTE = "UPDATE notes SET body = 'changed' WHERE note_id = 1";

async function ledger(label: string): Promise<TestDatabase> {
  const db = await createEmptyDatabase(`ledger${label}`);
  await withClient(db.url, (c) =>
    c.query(`CREATE TABLE accounts (account_id int PRIMARY KEY, balance int NOT NULL);
      CREATE TABLE notes (note_id int PRIMARY KEY, body text NOT NULL);
      CREATE TABLE whoami (name text NOT NULL);
      INSERT INTO accounts VALUES (1, 100); INSERT INTO notes VALUES (1, 'original'); INSERT INTO whoami VALUES ('${label}');`),
  );
  return db;
}

beforeAll(async () => {
  world = await GatewayWorld.create();
  [ledgerA, ledgerB] = [await ledger("A"), await ledger("B")];
  const keyring = getKeyring(world.secretKeys);
  ids.a = (await addConnection(world.prisma, { teamId: world.teamId, name: "ledger-a", fields: parseTargetUrlForTests(ledgerA.url), test: false }, keyring)).id;
  ids.b = (await addConnection(world.prisma, { teamId: world.teamId, name: "ledger-b", fields: parseTargetUrlForTests(ledgerB.url), test: false }, keyring)).id;
  ids.link = (await world.addLink({ access: "read", limits: { maxRows: 100, statementTimeoutMs: 5000 } })).linkId;
  const member = await createUser(world.prisma, { email: `bind-member-${randomUUID().slice(0, 6)}@example.com` });
  await addMember(world.prisma, { teamId: world.teamId, userId: member.id, role: "member" });
  await world.prisma.linkAccess.create({ data: { linkId: ids.link, userId: member.id } });
  ids.member = member.id;
  memberKey = (await createApiKey(world.prisma, { teamId: world.teamId, linkId: ids.link, userId: member.id, name: "member" })).key;
  gateway = (await world.startGateway()).url;
}, 120_000);

afterAll(async () => {
  await world?.close();
  await ledgerA?.drop().catch(() => {});
  await ledgerB?.drop().catch(() => {});
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- structuredContent of any arm
type Data = Record<string, any>;
const call = async (name: string, args: Record<string, unknown>): Promise<Data> =>
  (await mcpRequest(`${gateway}/mcp/${ids.link}`, memberKey, "2026-07-28", "tools/call", { name, arguments: args })).json.result.structuredContent;
const value = (db: TestDatabase, sql: string) => withClient(db.url, async (c) => (await c.query(sql)).rows[0]?.v);
const meta = <R>(sql: string, params: unknown[]) => withClient(world.meta.url, async (c) => (await c.query(sql, params)).rows as R[]);
const base = () => ({ teamId: world.teamId, linkId: ids.link });

/** Adds `ledger` on `connectionId` and waits until the gateway's record of it is that database. */
async function addLedger(connectionId: string, label: "A" | "B") {
  await addLinkDatabase(world.prisma, { ...base(), name: "ledger", connectionId, scope: LEDGER_SCOPE }, { parseScope });
  await untilLedgerIs(label);
}

async function untilLedgerIs(label: "A" | "B") {
  await waitFor(() => call("execute_sql", { sql: "SELECT name FROM whoami", database: "ledger" }), (d) => d.status === "ok" && d.rows?.[0]?.[0] === label, 10_000, 50);
}

async function reset() {
  for (const db of [ledgerA, ledgerB]) await withClient(db.url, (c) => c.query("UPDATE accounts SET balance = 100; UPDATE notes SET body = 'original'"));
  await removeLinkDatabase(world.prisma, { ...base(), name: "ledger" }).catch(() => {});
}

/** A grant row forced back into force behind the operations' back: models a row any other path left granted. */
const forceGranted = (id: string) =>
  meta(`UPDATE access_grants SET status = 'granted', starts_at = now(), expires_at = now() + interval '1 hour', revoked_at = NULL, revoked_by = NULL WHERE id = $1`, [id]);

describe("a grant follows the connection its database was, not the name", () => {
  test("request_access on ledger (A) → ledger removed and re-added on B → the old request is revoked, cannot be granted, and a forced grant does not allow the UPDATE on B", async () => {
    await reset();
    await addLedger(ids.a, "A");
    const asked = await call("request_access", { table: "accounts", access: "write", reason: "fix a balance", database: "ledger" });
    expect(asked.status).toBe("pending");
    const grantId = asked.grantId as string;
    expect((await meta<{ connection_id: string; database_name: string }>("SELECT connection_id::text, database_name FROM access_grants WHERE id = $1", [grantId]))[0]).toEqual({
      connection_id: ids.a,
      database_name: "ledger",
    });

    await removeLinkDatabase(world.prisma, { ...base(), name: "ledger", actorUserId: world.userId });
    const revoked = (await meta<{ status: string; revoked_by: string }>("SELECT status::text, revoked_by::text FROM access_grants WHERE id = $1", [grantId]))[0]!;
    expect(revoked).toEqual({ status: "revoked", revoked_by: world.userId });
    await addLedger(ids.b, "B");
    // The approver's `access grant` comes too late: the request is over.
    await expect(decideAccessGrant(world.prisma, { teamId: world.teamId, id: grantId, deciderId: world.userId, decision: "grant" })).rejects.toMatchObject({ code: "already_decided" });

    await forceGranted(grantId);
    // Give the directory its invalidation, then the UPDATE: refused, B's row unchanged.
    await new Promise((r) => setTimeout(r, 300));
    const attempt = await call("execute_sql", { sql: UPDATE, database: "ledger" });
    expect(attempt.status).toBe("refused");
    expect(await value(ledgerB, "SELECT balance AS v FROM accounts WHERE account_id = 1")).toBe(100);
    expect(await value(ledgerA, "SELECT balance AS v FROM accounts WHERE account_id = 1")).toBe(100);

    // The control: a grant asked for on B, granted, does allow it (the test can fail the other way).
    await meta("UPDATE access_grants SET status = 'revoked', revoked_at = now() WHERE id = $1", [grantId]);
    const again = await call("request_access", { table: "accounts", access: "write", reason: "fix a balance on B", database: "ledger" });
    expect(again.grantId).not.toBe(grantId);
    await decideAccessGrant(world.prisma, { teamId: world.teamId, id: again.grantId, deciderId: world.userId, decision: "grant" });
    const ran = await waitFor(() => call("execute_sql", { sql: UPDATE, database: "ledger" }), (d) => d.status === "ok", 5_000, 50);
    expect(ran.affected ?? ran.rowCount).toBe(1);
    expect(await value(ledgerB, "SELECT balance AS v FROM accounts WHERE account_id = 1")).toBe(0);
  });

  test("moving ledger to another connection revokes its grant in force; forced back, it still does not apply on the new connection", async () => {
    await reset();
    await addLedger(ids.a, "A");
    const asked = await call("request_access", { table: "accounts", access: "write", reason: "fix a balance", database: "ledger" });
    await decideAccessGrant(world.prisma, { teamId: world.teamId, id: asked.grantId, deciderId: world.userId, decision: "grant" });
    await waitFor(() => call("execute_sql", { sql: "UPDATE accounts SET balance = 100 WHERE account_id = 1", database: "ledger" }), (d) => d.status === "ok", 5_000, 50);

    await updateLinkDatabase(world.prisma, { ...base(), name: "ledger", connectionId: ids.b, actorUserId: world.userId }, { parseScope });
    expect((await meta<{ status: string }>("SELECT status::text FROM access_grants WHERE id = $1", [asked.grantId]))[0]!.status).toBe("revoked");
    const audited = await meta<{ n: number }>(`SELECT count(*)::int AS n FROM audit_outbox WHERE event::jsonb->>'accessGrantId' = $1 AND event::jsonb->>'tool' = 'access_grant.revoked'`, [asked.grantId]);
    expect(audited[0]!.n).toBe(1);
    await untilLedgerIs("B");
    await forceGranted(asked.grantId);
    await new Promise((r) => setTimeout(r, 300));
    expect((await call("execute_sql", { sql: UPDATE, database: "ledger" })).status).toBe("refused");
    expect(await value(ledgerB, "SELECT balance AS v FROM accounts WHERE account_id = 1")).toBe(100);
  });
});

describe("a write request follows the connection its database was, not the name", () => {
  async function approvedRequest(): Promise<string> {
    const pending = await call("execute_sql", { sql: NOTE, database: "ledger" });
    expect(pending.status).toBe("pending_approval");
    const id = pending.requestId as string;
    expect((await meta<{ connection_id: string }>("SELECT connection_id::text FROM write_requests WHERE id = $1", [id]))[0]!.connection_id).toBe(ids.a);
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id, deciderId: world.userId, decision: "approve", via: "dashboard" });
    return id;
  }

  test("approved on ledger (A) → removed and re-added on B → expired (notified), not executed; forced back to approved, still refused and not claimed", async () => {
    await reset();
    await addLedger(ids.a, "A");
    const id = await approvedRequest();
    const pendingId = (await call("execute_sql", { sql: "UPDATE notes SET body = 'pending one' WHERE note_id = 1", database: "ledger" })).requestId as string;
    await removeLinkDatabase(world.prisma, { ...base(), name: "ledger" });
    const rows = await meta<{ id: string; status: string }>("SELECT id::text, status::text FROM write_requests WHERE id = ANY($1::uuid[]) ORDER BY id", [[id, pendingId]]);
    expect(rows.map((r) => r.status)).toEqual(["expired", "expired"]);
    const notified = await meta<{ n: number }>("SELECT count(*)::int AS n FROM notification_outbox WHERE subject_id = ANY($1::uuid[]) AND event = 'write_request.expired'", [[id, pendingId]]);
    expect(notified[0]!.n).toBe(2);
    await addLedger(ids.b, "B");

    const expired = await call("execute_sql", { sql: NOTE, requestId: id, database: "ledger" });
    expect(expired.status).toBe("refused");
    expect(await value(ledgerB, "SELECT body AS v FROM notes WHERE note_id = 1")).toBe("original");

    await meta("UPDATE write_requests SET status = 'approved' WHERE id = $1", [id]);
    for (const args of [{ database: "ledger" }, {}]) {
      const attempt = await call("execute_sql", { sql: NOTE, requestId: id, ...args });
      expect(attempt.status).toBe("refused");
      expect(attempt.refusal.ruleId).toBe("write_request_mismatch");
    }
    expect(await value(ledgerB, "SELECT body AS v FROM notes WHERE note_id = 1")).toBe("original");
    expect(await value(ledgerA, "SELECT body AS v FROM notes WHERE note_id = 1")).toBe("original");
    expect((await meta<{ status: string }>("SELECT status::text FROM write_requests WHERE id = $1", [id]))[0]!.status).toBe("approved");
  });

  test("moved to B and renamed: approved requests expire; a request made on B after the move runs on B (the control)", async () => {
    await reset();
    await addLedger(ids.a, "A");
    const moved = await approvedRequest();
    await updateLinkDatabase(world.prisma, { ...base(), name: "ledger", connectionId: ids.b }, { parseScope });
    expect((await meta<{ status: string }>("SELECT status::text FROM write_requests WHERE id = $1", [moved]))[0]!.status).toBe("expired");
    await untilLedgerIs("B");
    const pending = await call("execute_sql", { sql: NOTE, database: "ledger" });
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id: pending.requestId, deciderId: world.userId, decision: "approve", via: "dashboard" });
    await updateLinkDatabase(world.prisma, { ...base(), name: "ledger", newName: "ledger2" }, { parseScope });
    expect((await meta<{ status: string }>("SELECT status::text FROM write_requests WHERE id = $1", [pending.requestId]))[0]!.status).toBe("expired");
    await updateLinkDatabase(world.prisma, { ...base(), name: "ledger2", newName: "ledger" }, { parseScope });
    await untilLedgerIs("B");
    const fresh = await call("execute_sql", { sql: NOTE, database: "ledger" });
    await decideWriteRequest(world.prisma, { teamId: world.teamId, id: fresh.requestId, deciderId: world.userId, decision: "approve", via: "dashboard" });
    const ran = await call("execute_sql", { sql: NOTE, requestId: fresh.requestId, database: "ledger" });
    expect(ran.status).toBe("ok");
    expect(await value(ledgerB, "SELECT body AS v FROM notes WHERE note_id = 1")).toBe("changed");
    expect(await value(ledgerA, "SELECT body AS v FROM notes WHERE note_id = 1")).toBe("original");
  });
});

test("the lists an approver reads name the database of every grant and request", async () => {
  const grants = await listAccessGrants(world.prisma, { teamId: world.teamId, linkId: ids.link });
  expect(grants.length).toBeGreaterThan(0);
  expect(grants.every((g) => g.databaseName === "ledger" && (g.connectionId === ids.a || g.connectionId === ids.b))).toBe(true);
  const requests = await listWriteRequests(world.prisma, { teamId: world.teamId, linkId: ids.link });
  expect(requests.length).toBeGreaterThan(0);
  expect(requests.every((r) => r.databaseName === "ledger")).toBe(true);
});

test("a saved tool of ledger refused for bad arguments is audited under ledger, not the link's first database", async () => {
  await reset();
  await addLedger(ids.b, "B");
  const deps = { policy, route: { policy: targetPolicyFromEnv({ TARGET_NETWORKS: "any", TARGET_ALLOW_POWERFUL_ROLES: "true" }), keyring: getKeyring(world.secretKeys) } };
  const tool = { name: "balance_of", description: "An account's balance", sql: "SELECT balance FROM accounts WHERE account_id = $1", databaseName: "ledger", parameters: [{ name: "id", type: "integer" as const, description: "", required: true }] };
  await createLinkTool(world.prisma, { teamId: world.teamId, linkId: ids.link, createdById: world.userId, tool }, deps);
  // Until the gateway hears of the new tool (NOTIFY), the call is an unknown tool: a JSON-RPC error, no result.
  const ok = await waitFor(() => call("balance_of", { id: 1 }).catch(() => undefined), (d) => d?.status === "ok", 10_000, 50);
  expect(ok!.rows).toEqual([[100]]);
  await call("balance_of", { id: "one" });
  const events = await waitFor(
    () => auditEvents(world),
    (all) => all.some((e) => e.tool === "balance_of" && e.verdict === "error"),
  );
  const refused = events.filter((e) => e.tool === "balance_of" && e.verdict === "error");
  expect(refused.map((e) => e.databaseName)).toEqual(["ledger"]);
});
