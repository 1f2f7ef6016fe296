/**
 * Scale curve 2 — gateway memory with 1,000 links over 100 connections (BENCH_LINKS, BENCH_CONNECTIONS).
 * Connections, links and keys are made through the real operations; every connection reaches its own
 * copy of nothing but the same Chinook database (a pool and a catalog each, as 100 customer databases
 * would cost), links differ in scope (hidden columns, row limits). One execute_sql through each link
 * loads its state; reported: the gateway's live heap (after a full GC) and RSS with 1 link loaded and
 * after one and two passes over all links, pools open (gateway gauge and target sessions), and the p50
 * of a call spread over every link vs the same call on one link.
 */
import { MACHINE_HEADERS, createChinookDatabase, machineCells, median, mib, percentile, printTable, startRound, withClient } from "@portcullis/db/testing";
import { dropBounded, mustCall, setupScale, startGateway } from "./scale-support.js";

const LINKS = Number(process.env.BENCH_LINKS ?? 1000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 100);
const CALLS = Number(process.env.BENCH_LINK_CALLS ?? 1000);
const SQL = (n: number) => `SELECT artist_id, name FROM artist WHERE artist_id > ${n % 200} ORDER BY artist_id LIMIT 10`;

export async function linksCurve(): Promise<void> {
  const setup = await setupScale();
  const chinook = await createChinookDatabase();
  let stop: (() => Promise<void>) | undefined;
  try {
    const t0 = performance.now();
    const connections: string[] = [];
    for (let c = 0; c < CONNECTIONS; c++) connections.push(await setup.addTarget(chinook.url, `customer-db-${c}`));
    const links: { linkId: string; key: string }[] = [];
    for (let l = 0; l < LINKS; l++) {
      const scope = {
        access: "read",
        schemas: ["public"],
        tables: l % 2 ? { employee: { hiddenColumns: ["email", "phone"] } } : { customer: { access: "none" } },
        limits: { maxRows: 100 + (l % 10), statementTimeoutMs: 15_000 },
      };
      links.push(await setup.addLink(connections[l % CONNECTIONS]!, `link-${l}`, scope));
    }
    const createS = (performance.now() - t0) / 1000;
    console.log(`links: ${CONNECTIONS} connections, ${LINKS} links and keys created in ${createS.toFixed(1)} s`);

    const gw = await startGateway(setup, { GATEWAY_AUTH_CACHE_TTL_MS: "600000" });
    stop = gw.stop;
    const sessions = () =>
      withClient(chinook.url, async (c) => Number((await c.query<{ n: string }>(`SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)).rows[0]!.n));
    type Snapshot = { label: string; heap: number; rss: number; pools: number; sessions: number; p50?: number; p99?: number; passS?: number; machine?: ReturnType<ReturnType<typeof startRound>> };
    const snapshots: Snapshot[] = [];
    const snap = async (label: string, extra: Partial<Snapshot> = {}) => {
      const heap = await gw.liveHeap();
      snapshots.push({ label, heap: heap.heapUsed, rss: heap.rss, pools: await gw.metric("portcullis_gateway_target_pools"), sessions: await sessions(), ...extra });
    };
    await snap("gateway started, no link used");

    // One link, warmed, then timed.
    const one = links[0]!;
    for (let i = 0; i < 200; i++) await mustCall(gw.base, one.linkId, one.key, "execute_sql", { sql: SQL(i) });
    let round = startRound([gw.pid]);
    const oneTimes: number[] = [];
    for (let i = 0; i < CALLS; i++) oneTimes.push((await mustCall(gw.base, one.linkId, one.key, "execute_sql", { sql: SQL(i) })).ms);
    await snap("1 link loaded", { p50: median(oneTimes), p99: percentile(oneTimes, 99), machine: round() });

    for (const pass of [1, 2]) {
      round = startRound([gw.pid]);
      const t = performance.now();
      for (let l = 0; l < LINKS; l++) {
        const answer = await mustCall(gw.base, links[l]!.linkId, links[l]!.key, "execute_sql", { sql: SQL(l) });
        if (!Array.isArray(answer.structured?.rows) || (answer.structured.rows as unknown[]).length !== 10) throw new Error(`link ${l}: expected 10 rows, got ${answer.text.slice(0, 200)}`);
      }
      await snap(`after pass ${pass} over all ${LINKS} links (one call each)`, { passS: (performance.now() - t) / 1000, machine: round() });
    }

    // A call on a different link every time, every link loaded.
    round = startRound([gw.pid]);
    const spread: number[] = [];
    for (let i = 0; i < CALLS; i++) {
      const l = links[(i * 7919) % LINKS]!;
      spread.push((await mustCall(gw.base, l.linkId, l.key, "execute_sql", { sql: SQL(i) })).ms);
    }
    await snap(`${LINKS} links loaded, calls spread over them`, { p50: median(spread), p99: percentile(spread, 99), machine: round() });
    round = startRound([gw.pid]);
    const oneAgain: number[] = [];
    for (let i = 0; i < CALLS; i++) oneAgain.push((await mustCall(gw.base, one.linkId, one.key, "execute_sql", { sql: SQL(i) })).ms);
    await snap(`${LINKS} links loaded, calls on 1 link`, { p50: median(oneAgain), p99: percentile(oneAgain, 99), machine: round() });

    const base = snapshots[1]!;
    printTable(
      `Gateway with ${LINKS} links over ${CONNECTIONS} connections (live heap after a full GC; sessions = the gateway's sessions on the target cluster's database; p50/p99 of ${CALLS} sequential execute_sql calls, 10 rows)`,
      ["state", "heap (MiB)", "heap vs 1 link", "RSS (MiB)", "pools open", "target sessions", "pass time (s)", "p50 (ms)", "p99 (ms)", ...MACHINE_HEADERS],
      snapshots.map((s) => [
        s.label,
        mib(s.heap),
        s === snapshots[0] ? "" : `+${mib(s.heap - base.heap)}`,
        mib(s.rss),
        String(s.pools),
        String(s.sessions),
        s.passS === undefined ? "" : s.passS.toFixed(1),
        s.p50 === undefined ? "" : s.p50.toFixed(2),
        s.p99 === undefined ? "" : s.p99.toFixed(2),
        ...(s.machine ? machineCells(s.machine) : ["", "", ""]),
      ]),
    );
    const perLink = (snapshots[2]!.heap - base.heap) / LINKS;
    console.log(`live heap per loaded link (pass 1): ${(perLink / 1024).toFixed(1)} KiB; pass 2 added ${mib(snapshots[3]!.heap - snapshots[2]!.heap)} MiB`);
  } finally {
    await stop?.();
    await setup.close();
    await dropBounded(chinook);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await linksCurve();
  process.exit(0);
}
