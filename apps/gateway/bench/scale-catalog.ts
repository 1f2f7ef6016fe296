/**
 * Scale curve 1 — catalog load time and memory at 100 / 1,000 / 10,000 tables (BENCH_CATALOG_SIZES).
 * Per size: a target database with that many tables (6 columns each, a foreign key on every fifth,
 * comments on tables and columns), then
 *   - the worker's introspection of it (apps/worker/bench/introspect-once.ts: the job's own function, in
 *     a process of its own, since apps do not import each other; the time is measured inside it),
 *   - a fresh gateway process: time from "link created, catalog cold" to the first answer of
 *     list_tables and of search_objects, the gateway's live heap (after a full GC) and RSS before/after,
 *   - p50 of one list_tables / search_objects call once the catalog is warm.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import pg from "pg";
import { loadCatalog } from "@portcullis/policy";
import { MACHINE_HEADERS, createEmptyDatabase, machineCells, withClient, median, mib, printTable, startRound, type RoundMachine } from "@portcullis/db/testing";
import { dropBounded, mustCall, setupScale, startGateway } from "./scale-support.js";

const run = promisify(execFile);
const INTROSPECT_ONCE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../worker/bench/introspect-once.ts");
const SIZES = (process.env.BENCH_CATALOG_SIZES ?? "100,1000,10000").split(",").map(Number);
const WARM_CALLS = Number(process.env.BENCH_CATALOG_CALLS ?? 30);
// Opt-in (seconds): wait that long after the warm calls and time one more list_tables, to see what a
// call pays when the gateway's catalog cache entry has expired (gateway.ts: 5 min TTL, so 305).
const EXPIRY_S = Number(process.env.BENCH_CATALOG_EXPIRY_S ?? 0);
const WORDS = ["orders", "customers", "invoices", "payments", "shipments", "products", "accounts", "events", "tickets", "refunds"];

function tableName(i: number): string {
  return `${WORDS[i % WORDS.length]}_${String(i).padStart(5, "0")}`;
}

/** Builds `n` tables in chunks: one transaction per chunk keeps the lock table small. */
async function buildTables(url: string, n: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (let start = 0; start < n; start += 250) {
      const parts: string[] = [];
      for (let i = start; i < Math.min(n, start + 250); i++) {
        const t = tableName(i);
        const fk = i % 5 === 4 ? `, parent_id integer REFERENCES ${tableName(i - 1)} (id)` : ", parent_id integer";
        parts.push(
          `CREATE TABLE ${t} (id integer PRIMARY KEY, name text NOT NULL, status text, amount numeric(12,2), created_at timestamptz DEFAULT now()${fk});`,
          `COMMENT ON TABLE ${t} IS 'The ${WORDS[i % WORDS.length]} of region ${i}';`,
          `COMMENT ON COLUMN ${t}.amount IS 'Amount in cents of ${WORDS[(i + 3) % WORDS.length]}';`,
        );
      }
      await client.query(parts.join("\n"));
    }
    await client.query("ANALYZE");
  } finally {
    await client.end();
  }
}

interface Row {
  size: number;
  buildS: number;
  introspectS: number;
  loadCatalogMs: number;
  firstListMs: number;
  firstSearchMs: number;
  listTotal: number;
  heapBefore: number;
  heapAfter: number;
  secondLinkMs: number;
  heapAfterSecond: number;
  afterExpiryMs?: number;
  rssBefore: number;
  rssAfter: number;
  listP50: number;
  searchP50: number;
  machine: RoundMachine;
}

async function measureSize(size: number): Promise<Row> {
  const setup = await setupScale();
  const target = await createEmptyDatabase("scale_catalog");
  const small = await createEmptyDatabase("scale_catalog_small");
  const gateway: { stop?: () => Promise<void> } = {};
  try {
    const t0 = performance.now();
    await buildTables(target.url, size);
    const buildS = (performance.now() - t0) / 1000;
    await buildTables(small.url, 3);
    const round = startRound();
    const connectionId = await setup.addTarget(target.url, `catalog-${size}`);
    const smallConnection = await setup.addTarget(small.url, "warm-up");

    const { stdout } = await run(process.execPath, ["--import", "tsx", INTROSPECT_ONCE, connectionId], {
      cwd: path.dirname(INTROSPECT_ONCE),
      env: { ...process.env, META_URL: setup.meta.url, PORTCULLIS_SECRET_KEYS: setup.secretKeys },
    });
    const introspected = JSON.parse(stdout.trim().split("\n").pop()!) as { seconds: number; tableCount: number };
    const introspectS = introspected.seconds;
    if (introspected.tableCount !== size) throw new Error(`introspection saw ${introspected.tableCount} tables, built ${size}`);

    // The policy catalog load alone (what the gateway's first call waits for), in this process: the
    // rest of the first call is the pool, the link, and building the answer.
    const t2 = performance.now();
    await withClient(target.url, (c) => loadCatalog(c));
    const loadCatalogMs = performance.now() - t2;

    const gw = await startGateway(setup);
    gateway.stop = gw.stop;
    // The code paths warmed on a 3-table link first, so the delta below is the catalog, not the JIT.
    const warm = await setup.addLink(smallConnection, "warm-up", { access: "read", schemas: ["public"] });
    for (let i = 0; i < 20; i++) {
      await mustCall(gw.base, warm.linkId, warm.key, "list_tables", {});
      await mustCall(gw.base, warm.linkId, warm.key, "search_objects", { query: WORDS[i % WORDS.length]! });
    }
    const before = await gw.liveHeap();
    const link = await setup.addLink(connectionId, `catalog-${size}`, { access: "read", schemas: ["public"] });
    const firstList = await mustCall(gw.base, link.linkId, link.key, "list_tables", {});
    const firstSearch = await mustCall(gw.base, link.linkId, link.key, "search_objects", { query: "refunds region" });
    const listTotal = Number(firstList.structured?.total);
    if (listTotal !== size) throw new Error(`list_tables says ${listTotal} tables, built ${size}`);
    if (!Array.isArray(firstSearch.structured?.results) || (firstSearch.structured.results as unknown[]).length === 0) throw new Error("search_objects found nothing");
    const list: number[] = [];
    const search: number[] = [];
    for (let i = 0; i < WARM_CALLS; i++) {
      list.push((await mustCall(gw.base, link.linkId, link.key, "list_tables", {})).ms);
      // A different text per call: what an agent searching a big schema does.
      search.push((await mustCall(gw.base, link.linkId, link.key, "search_objects", { query: `${WORDS[i % WORDS.length]} ${randomBytes(1).readUInt8() % 10}` })).ms);
    }
    const after = await gw.liveHeap();
    // A second link with another scope on the same connection: does it share the loaded catalog?
    const other = await setup.addLink(connectionId, `catalog-${size}-b`, { access: "read", schemas: ["public"], tables: { [tableName(1)]: { access: "none" } } });
    const secondList = await mustCall(gw.base, other.linkId, other.key, "list_tables", {});
    if (Number(secondList.structured?.total) !== size - 1) throw new Error(`second link lists ${String(secondList.structured?.total)} tables, expected ${size - 1}`);
    await mustCall(gw.base, other.linkId, other.key, "search_objects", { query: "refunds region" });
    const afterSecond = await gw.liveHeap();
    let afterExpiryMs: number | undefined;
    if (EXPIRY_S > 0) {
      await new Promise((r) => setTimeout(r, EXPIRY_S * 1000));
      afterExpiryMs = (await mustCall(gw.base, link.linkId, link.key, "list_tables", {})).ms;
    }
    return {
      size,
      buildS,
      introspectS,
      loadCatalogMs,
      firstListMs: firstList.ms,
      firstSearchMs: firstSearch.ms,
      listTotal,
      heapBefore: before.heapUsed,
      heapAfter: after.heapUsed,
      secondLinkMs: secondList.ms,
      heapAfterSecond: afterSecond.heapUsed,
      afterExpiryMs,
      rssBefore: before.rss,
      rssAfter: after.rss,
      listP50: median(list),
      searchP50: median(search),
      machine: round(),
    };
  } finally {
    await gateway.stop?.();
    await setup.close();
    await dropBounded(target);
    await dropBounded(small);
  }
}

export async function catalogCurve(): Promise<void> {
  const rows: Row[] = [];
  for (const size of SIZES) {
    const row = await measureSize(size);
    rows.push(row);
    console.log(`catalog ${size}: first list_tables ${row.firstListMs.toFixed(0)} ms, heap +${mib(row.heapAfter - row.heapBefore)} MiB`);
  }
  printTable(
    "Catalog scale (one fresh gateway per size; heap = live heap after a full GC; first call = link just created, catalog cold)",
    ["tables", "build target (s)", "worker introspection (s)", "policy loadCatalog alone (ms)", "first list_tables (ms)", "first search_objects (ms)", "heap before → after (MiB)", "RSS before → after (MiB)", "list_tables p50 (ms)", "search_objects p50 (ms)", "2nd link, same connection: first list_tables (ms) / heap +MiB", ...(EXPIRY_S > 0 ? [`list_tables after ${EXPIRY_S} s idle (ms)`] : []), ...MACHINE_HEADERS],
    rows.map((r) => [
      String(r.size),
      r.buildS.toFixed(1),
      r.introspectS.toFixed(2),
      r.loadCatalogMs.toFixed(0),
      r.firstListMs.toFixed(0),
      r.firstSearchMs.toFixed(0),
      `${mib(r.heapBefore)} → ${mib(r.heapAfter)} (+${mib(r.heapAfter - r.heapBefore)})`,
      `${mib(r.rssBefore)} → ${mib(r.rssAfter)}`,
      r.listP50.toFixed(2),
      r.searchP50.toFixed(2),
      `${r.secondLinkMs.toFixed(0)} / +${mib(r.heapAfterSecond - r.heapAfter)}`,
      ...(EXPIRY_S > 0 ? [r.afterExpiryMs?.toFixed(0) ?? ""] : []),
      ...machineCells(r.machine),
    ]),
  );
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await catalogCurve();
  process.exit(0);
}
