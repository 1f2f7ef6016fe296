/**
 * One introspection job, run as the worker runs it, timed: for benches in other packages, which may not
 * import the worker (apps never import each other) and run this as a process instead.
 * Usage: META_URL=… PORTCULLIS_SECRET_KEYS=… tsx introspect-once.ts <connectionId>
 * Prints one JSON line: {"seconds": …, "tableCount": …}.
 */
import pg from "pg";
import { getKeyring } from "@portcullis/db/secrets";
import { introspectConnection } from "../src/processors/introspection.js";

const connectionId = process.argv[2];
const metaUrl = process.env.META_URL;
const secretKeys = process.env.PORTCULLIS_SECRET_KEYS;
if (!connectionId || !metaUrl || !secretKeys) {
  console.error("usage: META_URL=… PORTCULLIS_SECRET_KEYS=… tsx introspect-once.ts <connectionId>");
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: metaUrl, max: 2 });
try {
  const started = performance.now();
  const result = await introspectConnection({ pool, keyring: getKeyring(secretKeys) }, { connectionId, reason: "created" });
  console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, tableCount: result.tableCount }));
} finally {
  await pool.end();
}
