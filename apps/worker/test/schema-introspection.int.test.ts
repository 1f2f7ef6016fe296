import pg from "pg";
import { getKeyring } from "@portcullis/db/secrets";
import { addConnection, createTeam } from "@portcullis/db/operations";
import { parseTargetUrl } from "@portcullis/db/target";
import { createChinookDatabase, testRedisUrl, type TestDatabase } from "@portcullis/db/testing";
import { QUEUES } from "@portcullis/jobs";
import { Queue } from "bullmq";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { enqueueIntrospection, getDescriptionsStatus } from "../src/enqueue.js";
import { SECRET_KEYS, createWorkerFixture, waitFor } from "./support.js";

let chinook: TestDatabase;
let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let worker: RunningWorker;
let introspection: Queue;
let descriptions: Queue;
let connectionId: string;

beforeAll(async () => {
  chinook = await createChinookDatabase();
  fixture = await createWorkerFixture({ AI_PROVIDER: "none" });
  const prisma = fixture.prisma();
  try {
    const team = await createTeam(prisma, { name: "Introspection" });
    connectionId = (await addConnection(prisma, { teamId: team.id, name: "chinook", fields: parseTargetUrl(chinook.url), test: false }, getKeyring(SECRET_KEYS))).id;
  } finally {
    await prisma.$disconnect();
  }
  worker = await startWorker(fixture.env, { schedules: false, metricsServer: false });
  introspection = new Queue(QUEUES.introspection, { connection: { url: testRedisUrl() }, prefix: fixture.prefix });
  descriptions = new Queue(QUEUES.descriptions, { connection: { url: testRedisUrl() }, prefix: fixture.prefix });
});

afterAll(async () => {
  await worker?.close();
  for (const q of [introspection, descriptions]) {
    await q?.obliterate({ force: true }).catch(() => {});
    await q?.close();
  }
  await fixture?.close();
  await chinook?.drop();
});

async function snapshots() {
  const { rows } = await fixture.pool.query(`SELECT snapshot, diff, table_count FROM schema_snapshots WHERE connection_id = $1 ORDER BY taken_at`, [connectionId]);
  return rows;
}

test("a new connection is snapshotted, then described offline; a schema change shows as a diff", async () => {
  await enqueueIntrospection(introspection, { connectionId, reason: "created" });
  await waitFor(async () => (await snapshots()).length === 1, 30_000, "the first snapshot");
  const [first] = await snapshots();
  expect(first.table_count).toBe(11);
  expect(first.diff).toMatchObject({ initial: true, summary: "first snapshot: 11 tables" });
  const invoice = first.snapshot.tables.find((t: { name: string }) => t.name === "invoice");
  expect(invoice.primaryKey).toEqual(["invoice_id"]);
  expect(invoice.foreignKeys[0].references).toMatchObject({ schema: "public", table: "customer", columns: ["customer_id"] });
  expect(invoice.indexes.some((i: { primary: boolean }) => i.primary)).toBe(true);
  expect(invoice.rowEstimate).not.toBeUndefined();

  // "created" also queues descriptions: with no AI provider, the offline describer writes them.
  await waitFor(
    async () => {
      const { rows } = await fixture.pool.query(`SELECT count(DISTINCT table_name)::int AS n FROM schema_descriptions WHERE connection_id = $1 AND source = 'heuristic'`, [connectionId]);
      return rows[0].n === 11;
    },
    30_000,
    "offline descriptions",
  );
  const { rows: described } = await fixture.pool.query(
    `SELECT description FROM schema_descriptions WHERE connection_id = $1 AND table_name = 'invoice' AND column_name = 'customer_id'`,
    [connectionId],
  );
  expect(described[0].description).toMatch(/customer/);

  const target = new pg.Client({ connectionString: chinook.url });
  await target.connect();
  try {
    await target.query(`CREATE TABLE review (id int PRIMARY KEY, track_id int REFERENCES track(track_id), stars int)`);
    await target.query(`CREATE TABLE coupon (code text PRIMARY KEY)`);
    await target.query(`CREATE TABLE promo (id int)`);
    await target.query(`ALTER TABLE customer DROP COLUMN fax`);
  } finally {
    await target.end();
  }
  await enqueueIntrospection(introspection, { connectionId, reason: "on_demand" });
  await waitFor(async () => (await snapshots()).length === 2, 30_000, "the second snapshot");
  const [, second] = await snapshots();
  // The new table's foreign key is part of "table added", not counted again.
  expect(second.diff.summary).toBe("3 tables added, 1 column dropped");
  expect(second.diff.tablesAdded).toEqual(["public.coupon", "public.promo", "public.review"]);
  expect(second.diff.columnsDropped).toEqual(["public.customer.fax"]);

  // Only the new tables are queued for descriptions.
  const jobs = await descriptions.getJobs(["completed", "active", "waiting"]);
  expect(jobs.some((j) => JSON.stringify(j.data.tables) === JSON.stringify(["public.coupon", "public.promo", "public.review"]))).toBe(true);
  const latest = jobs.find((j) => j.data.tables);
  await waitFor(async () => (await getDescriptionsStatus(descriptions, latest!.id!))?.state === "completed", 30_000, "descriptions of the new tables");
});

test("a deleted connection fails its job once, without retries", async () => {
  const id = await enqueueIntrospection(introspection, { connectionId: "00000000-0000-4000-8000-000000000000", reason: "on_demand" });
  const job = await waitFor(async () => {
    const j = await introspection.getJob(id);
    return j && (await j.getState()) === "failed" ? j : undefined;
  }, 10_000, "the failure");
  expect(job.failedReason).toMatch(/no longer exists/);
  expect(job.attemptsMade).toBe(1);
});

test("a stored connection the operator's target policy refuses is never opened by the worker", async () => {
  // Saved without a test (as the CLI's --no-test or an older version could): the worker checks the
  // address again when it opens a session. A multicast address is refused under every policy.
  const prisma = fixture.prisma();
  let refusedId: string;
  try {
    const team = await createTeam(prisma, { name: "Refused target" });
    const fields = { ...parseTargetUrl(chinook.url), host: "224.0.0.1" };
    refusedId = (await addConnection(prisma, { teamId: team.id, name: "refused", fields, test: false }, getKeyring(SECRET_KEYS))).id;
  } finally {
    await prisma.$disconnect();
  }
  const job = await introspection.add("introspect", { connectionId: refusedId, reason: "on_demand" }, { attempts: 1 });
  const failed = await waitFor(
    async () => {
      const current = await introspection.getJob(job.id!);
      return (await current?.isFailed()) ? current : undefined;
    },
    30_000,
    "the introspection job to fail",
  );
  expect(failed!.failedReason).toMatch(/connection .* refused: /);
  const { rows } = await fixture.pool.query(`SELECT count(*)::int AS n FROM schema_snapshots WHERE connection_id = $1`, [refusedId]);
  expect(rows[0].n).toBe(0);
});
