import { writeFileSync } from "node:fs";

/**
 * Preloaded into a benchmarked gateway (`--expose-gc --import`): on SIGUSR2 it collects garbage and
 * writes process.memoryUsage() to BENCH_HEAP_FILE, so the scale benches read live heap, not heap plus
 * whatever garbage the last calls left (which varies by tens of MB with GC timing).
 */
const file = process.env.BENCH_HEAP_FILE;
const collect = (globalThis as { gc?: () => void }).gc;
if (file && collect) {
  process.on("SIGUSR2", () => {
    collect();
    writeFileSync(file, JSON.stringify(process.memoryUsage()));
  });
}
