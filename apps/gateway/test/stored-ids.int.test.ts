import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensurePartitions, partitionOf } from "@portcullis/db/audit";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { STORED_IDS_SQL, missingFromStore, storedIdsParams } from "../src/audit/stored-ids.js";

let db: TestDatabase;
let pool: pg.Pool;

const teamId = randomUUID();
const march = { id: randomUUID(), time: "2026-03-10T12:00:00.000Z" };
const april = { id: randomUUID(), time: "2026-04-02T08:30:00.123Z" };
const orphan = { id: randomUUID(), time: "2026-03-11T00:00:00.000Z" };
const never = { id: randomUUID(), time: "2026-03-12T00:00:00.000Z" };

beforeAll(async () => {
  db = await createMetadataDatabase();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // Monthly partitions from January 2026 on, so most of them hold nothing these events could be in.
  await ensurePartitions(pool, { now: new Date("2026-01-15T00:00:00Z"), ahead: 14 });
  let seq = 0;
  for (const e of [march, april]) {
    await pool.query(
      `INSERT INTO audit_events (id, team_id, time, seq, kind, verdict, prev_hash, hash) VALUES ($1, $2, $3, $4, 'tool_call', 'allowed', repeat('0', 64), repeat('1', 64))`,
      [e.id, teamId, e.time, ++seq],
    );
  }
  await pool.query(`INSERT INTO audit_orphans (id, team_id, event, reason) VALUES ($1, $2, '{}', 'team_deleted')`, [orphan.id, teamId]);
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/** Every relation a plan reads. */
function relations(plan: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(plan)) for (const p of plan) relations(p, into);
  else if (plan && typeof plan === "object") {
    const node = plan as Record<string, unknown>;
    if (typeof node["Relation Name"] === "string") into.add(node["Relation Name"]);
    for (const value of Object.values(node)) relations(value, into);
  }
  return into;
}

describe("missingFromStore on the partitioned audit_events", () => {
  it("answers which events are stored (events, orphans) and which are not, given their times", async () => {
    const events = [march, april, orphan, never];
    const missing = await missingFromStore(pool, events.map((e) => e.id), events.map((e) => e.time));
    expect([...missing]).toEqual([never.id]);
    // A malformed id can never be stored; an unparsable time falls back to every partition, not to "missing".
    const odd = await missingFromStore(pool, [march.id, "not-a-uuid"], ["not a time", march.time]);
    expect([...odd]).toEqual(["not-a-uuid"]);
  });

  it("reads only the partitions of the events' months", async () => {
    const events = [march, april, never];
    const params = storedIdsParams(events.map((e) => e.id), events.map((e) => e.time));
    const { rows } = await pool.query<{ "QUERY PLAN": unknown }>(`EXPLAIN (FORMAT JSON) ${STORED_IDS_SQL}`, params);
    const read = [...relations(rows[0]!["QUERY PLAN"])].filter((r) => r.startsWith("audit_events"));
    expect(read.sort()).toEqual([partitionOf(new Date("2026-03-01Z")).name, partitionOf(new Date("2026-04-01Z")).name].sort());
    const { rows: all } = await pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'audit_events'::regclass`,
    );
    expect(Number(all[0]!.n)).toBeGreaterThan(10);
  });
});
