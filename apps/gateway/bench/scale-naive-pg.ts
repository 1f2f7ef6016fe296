import pg from "pg";
import { processMemory } from "@portcullis/db/testing";

/**
 * The naive comparison for scale-rows.ts: one pg query that reads the whole result into memory, as a
 * server without a row-limited portal would. Prints its own RSS before and peak (VmHWM) after, as JSON.
 */
const [url, sql] = process.argv.slice(2) as [string, string];
const client = new pg.Client({ connectionString: url });
await client.connect();
await client.query("SELECT 1");
const before = processMemory(process.pid)!;
const started = performance.now();
const result = await client.query(sql);
const ms = performance.now() - started;
const after = processMemory(process.pid)!;
await client.end();
console.log(JSON.stringify({ rows: result.rowCount, ms, rssBefore: before.rss, peak: after.peak }));
