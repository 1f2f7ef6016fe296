/**
 * Scale curve 3 — a 1,000,000-row result cut at maxRows (BENCH_ROWS_TOTAL, BENCH_ROWS_LIMITS): the
 * statement goes through the gateway with maxRows 1,000 and 10,000; reported per limit: time to answer,
 * rows returned, and the gateway's peak RSS during the call (VmHWM reset just before it, and /proc
 * polled every 5 ms besides, in case the kernel refuses the reset) — against one naive pg query of the
 * same statement that reads every row (its own process, its peak RSS), and the statement's cost in
 * PostgreSQL alone (count(*) over it).
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { MACHINE_HEADERS, createEmptyDatabase, machineCells, median, mib, printTable, processMemory, resetPeakMemory, startRound, withClient, type RoundMachine } from "@portcullis/db/testing";
import { dropBounded, mustCall, setupScale, startGateway } from "./scale-support.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const TOTAL = Number(process.env.BENCH_ROWS_TOTAL ?? 1_000_000);
const LIMITS = (process.env.BENCH_ROWS_LIMITS ?? "1000,10000").split(",").map(Number);
const ROUNDS = Number(process.env.BENCH_ROWS_ROUNDS ?? 3);
// ~60 bytes of text per row besides the number: the million rows are ~100 MB as pg hands them over.
const BYTE_CAP = 16 * 1024 * 1024;
const SQL = `SELECT g AS id, md5(g::text) AS digest, repeat('x', 20) AS pad FROM generate_series(1, ${TOTAL}) AS g`;

interface Round {
  ms: number;
  rows: number;
  truncated: boolean;
  bytes: number;
  by: string;
  rssBefore: number;
  peak: number;
  peakReset: boolean;
  machine: RoundMachine;
}

export async function rowsCurve(): Promise<void> {
  const setup = await setupScale();
  const target = await createEmptyDatabase("scale_rows");
  let stop: (() => Promise<void>) | undefined;
  try {
    const connectionId = await setup.addTarget(target.url, "rows");
    // The result byte cap (256 KiB by default) would cut 10,000 of these rows first: raised, so the
    // row limit is what is measured; the byte cut reads the stream the same way.
    const gw = await startGateway(setup, { GATEWAY_MAX_RESULT_BYTES: String(BYTE_CAP) });
    stop = gw.stop;
    const pgOnly: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t = performance.now();
      await withClient(target.url, (c) => c.query(`SELECT count(*) FROM (${SQL}) AS s`));
      pgOnly.push(performance.now() - t);
    }
    const results = new Map<number, Round[]>();
    for (const limit of LIMITS) {
      const link = await setup.addLink(connectionId, `rows-${limit}`, { access: "read", schemas: ["public"], limits: { maxRows: limit, statementTimeoutMs: 60_000 } });
      // Warm: the link's state and the result path, on a small statement.
      for (let i = 0; i < 5; i++) await mustCall(gw.base, link.linkId, link.key, "execute_sql", { sql: "SELECT g FROM generate_series(1, 100) AS g" });
      const rounds: Round[] = [];
      for (let r = 0; r < ROUNDS; r++) {
        await gw.liveHeap(); // a full GC, so each round starts from live memory only
        const rssBefore = gw.memory()!.rss;
        const peakReset = resetPeakMemory(gw.pid);
        let polled = rssBefore;
        const poll = setInterval(() => (polled = Math.max(polled, gw.memory()?.rss ?? 0)), 5);
        const round = startRound([gw.pid]);
        const answer = await mustCall(gw.base, link.linkId, link.key, "execute_sql", { sql: SQL });
        const machine = round();
        clearInterval(poll);
        const mem = gw.memory()!;
        const rows = (answer.structured?.rows as unknown[] | undefined)?.length ?? -1;
        if (rows !== limit || !(answer.structured?.truncated as { value?: boolean } | undefined)?.value) throw new Error(`maxRows ${limit}: the gateway returned ${rows} rows, truncated ${JSON.stringify(answer.structured?.truncated)}`);
        rounds.push({ ms: answer.ms, rows, truncated: (answer.structured?.truncated as { value?: boolean } | undefined)?.value === true, by: String((answer.structured?.truncated as { by?: string } | undefined)?.by ?? ""), bytes: answer.bytes, rssBefore, peak: peakReset ? Math.max(mem.peak, polled) : polled, peakReset, machine });
        console.log(`maxRows ${limit} round ${r + 1}: ${answer.ms.toFixed(0)} ms, ${answer.bytes} bytes, peak RSS +${mib((peakReset ? Math.max(mem.peak, polled) : polled) - rssBefore)} MiB`);
      }
      results.set(limit, rounds);
    }
    const naive: { rows: number; ms: number; rssBefore: number; peak: number }[] = [];
    for (let i = 0; i < Math.min(2, ROUNDS); i++) {
      const out = spawnSync(process.execPath, ["--import", "tsx", path.join(HERE, "scale-naive-pg.ts"), target.url, SQL], { cwd: HERE, encoding: "utf8" });
      if (out.status !== 0) throw new Error(`naive pg query failed: ${out.stderr}`);
      naive.push(JSON.parse(out.stdout.trim().split("\n").at(-1)!));
    }
    const rows: string[][] = [];
    for (const [limit, rounds] of results) {
      const last = rounds.at(-1)!;
      rows.push([
        `gateway, maxRows ${limit.toLocaleString("en")}`,
        median(rounds.map((r) => r.ms)).toFixed(0),
        `${last.rows.toLocaleString("en")}${last.truncated ? ` (truncated by ${last.by || "?"})` : " (NOT marked truncated)"}`,
        mib(last.bytes),
        mib(median(rounds.map((r) => r.rssBefore))),
        mib(median(rounds.map((r) => r.peak))),
        `+${mib(median(rounds.map((r) => r.peak - r.rssBefore)))}`,
        rounds.every((r) => r.peakReset) ? "VmHWM reset + 5 ms poll" : "5 ms poll only",
        ...machineCells(last.machine),
      ]);
    }
    rows.push([
      "naive pg client.query (whole result)",
      median(naive.map((n) => n.ms)).toFixed(0),
      naive[0]!.rows.toLocaleString("en"),
      "",
      mib(median(naive.map((n) => n.rssBefore))),
      mib(median(naive.map((n) => n.peak))),
      `+${mib(median(naive.map((n) => n.peak - n.rssBefore)))}`,
      "VmHWM of its own process",
      "",
      "",
      "",
    ]);
    printTable(
      `${TOTAL.toLocaleString("en")}-row statement cut at maxRows (medians of ${ROUNDS} rounds; GATEWAY_MAX_RESULT_BYTES 16 MiB; PostgreSQL alone produces the rows in ${median(pgOnly).toFixed(0)} ms (count(*) over the statement))`,
      ["path", "time to answer (ms)", "rows returned", "answer (MiB)", "RSS before (MiB)", "peak RSS (MiB)", "peak − before (MiB)", "peak measured by", ...MACHINE_HEADERS],
      rows,
    );
    console.log(`gateway RSS after every round: ${mib(processMemory(gw.pid)?.rss)} MiB`);
  } finally {
    await stop?.();
    await setup.close();
    await dropBounded(target);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await rowsCurve();
  process.exit(0);
}
