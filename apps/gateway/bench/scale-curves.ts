/**
 * `pnpm bench` (gateway part, after gateway.bench.ts): the scale curves, one after another —
 * catalog size, links in memory, a million-row result cut at maxRows, GATEWAY_PROCESSES 1 vs 2.
 * BENCH_SCALE=0 skips them; BENCH_SCALE_CURVES=catalog,links,rows,processes picks some. Each prints a
 * Markdown table with the machine's load, busy share and steal per round (a number measured on a busy
 * shared 2-core machine says so next to it). The audit ingestion curve is apps/worker/bench/scale-ingest.ts.
 */
import { catalogCurve } from "./scale-catalog.js";
import { linksCurve } from "./scale-links.js";
import { processesCurve } from "./scale-processes.js";
import { rowsCurve } from "./scale-rows.js";

const CURVES: Record<string, () => Promise<void>> = { catalog: catalogCurve, links: linksCurve, rows: rowsCurve, processes: processesCurve };

if (process.env.BENCH_SCALE !== "0") {
  const wanted = (process.env.BENCH_SCALE_CURVES ?? Object.keys(CURVES).join(",")).split(",").map((c) => c.trim());
  for (const name of wanted) {
    const curve = CURVES[name];
    if (!curve) throw new Error(`unknown scale curve ${name} (known: ${Object.keys(CURVES).join(", ")})`);
    const started = performance.now();
    console.log(`\n== scale curve: ${name}`);
    await curve();
    console.log(`== ${name} took ${((performance.now() - started) / 1000).toFixed(0)} s`);
  }
}
process.exit(0);
