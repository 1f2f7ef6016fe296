import { randomBytes, randomUUID } from "node:crypto";
import pg from "pg";
import { expect, test } from "vitest";
import { type AuditEventInput, ingestAuditBatch, parseAuditChainKey, verifyAuditChain } from "../src/audit/index.js";
import { checkOut } from "../src/audit/checkout.js";
import { auditSuiteDatabase } from "./support/audit-suite.js";

/**
 * The metadata connection dies under an audit writer (PostgreSQL killed, restarted or the backend
 * terminated): the process must survive it — an unlistened 'error' on a checked-out client ended the
 * worker in the chaos test — and a retried batch must leave a chain that verifies, keyed included.
 */
const suite = auditSuiteDatabase(4);

const terminate = (pid: number) => suite.pool.query("SELECT pg_terminate_backend($1)", [pid]);
const backendPid = async (client: pg.PoolClient) => (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;

test("a checked-out client whose backend dies between two queries does not take the process down, and is not reused", async () => {
  const uncaught: unknown[] = [];
  const record = (error: unknown) => uncaught.push(error);
  process.on("uncaughtException", record);
  try {
    const { client, release } = await checkOut(suite.pool);
    await client.query("BEGIN");
    const pid = await backendPid(client);
    // Idle in its transaction, as a writer is between the head lock and the COPY.
    await terminate(pid);
    await new Promise((r) => setTimeout(r, 300));
    await expect(client.query("SELECT 1")).rejects.toThrow();
    release();
    expect(uncaught).toEqual([]);
    // The dead connection went away with its release: the pool hands out working ones.
    const again = await checkOut(suite.pool);
    expect(await backendPid(again.client)).not.toBe(pid);
    again.release();
  } finally {
    process.off("uncaughtException", record);
  }
});

test("a batch whose connection is terminated mid-transaction fails whole; its retry stores every event once and the keyed chain verifies", async () => {
  const key = parseAuditChainKey(randomBytes(32).toString("hex"));
  const teamId = await suite.team();
  const event = (i: number): AuditEventInput => ({ id: randomUUID(), time: new Date().toISOString(), teamId, tool: "execute_sql", sql: `SELECT ${i}`, verdict: "allowed", durationMs: 1 });
  expect(await ingestAuditBatch(suite.pool, [event(0), event(1)], { key })).toMatchObject({ inserted: 2 });

  // Another transaction holds the team's chain head, so the batch waits inside its own transaction.
  const holder = await suite.pool.connect();
  await holder.query("BEGIN");
  await holder.query("SELECT 1 FROM audit_chain_heads WHERE team_id = $1 FOR UPDATE", [teamId]);
  const batch = Array.from({ length: 20 }, (_, i) => event(10 + i));
  const writing = ingestAuditBatch(suite.pool, batch, { key });
  // It may reject while the test still awaits the termination below, before `expect(...).rejects`
  // listens: a handler now keeps that from counting as an unhandled rejection (seen once in CI).
  writing.catch(() => {});
  const waiting = async () =>
    (await suite.pool.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%audit_chain_heads%'")).rows[0]?.pid;
  let pid: number | undefined;
  for (let i = 0; i < 100 && !pid; i++) {
    pid = await waiting();
    if (!pid) await new Promise((r) => setTimeout(r, 50));
  }
  expect(pid).toBeDefined();
  await terminate(pid!);
  await expect(writing).rejects.toThrow();
  await holder.query("ROLLBACK");
  holder.release();

  const { rows } = await suite.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE team_id = $1", [teamId]);
  expect(rows[0]!.n).toBe(2);
  expect(await ingestAuditBatch(suite.pool, batch, { key })).toMatchObject({ inserted: 20, duplicates: 0 });
  expect(await ingestAuditBatch(suite.pool, batch, { key })).toMatchObject({ inserted: 0, duplicates: 20 });
  expect(await verifyAuditChain(suite.pool, teamId, { key })).toMatchObject({ ok: true, checked: 22, keyChecked: true });
});
