import { randomUUID } from "node:crypto";
import { generateSecretKey, SecretKeyring } from "@portcullis/db/secrets";
import { parseTargetUrl, type TargetConnectionRow, type TargetPolicy } from "@portcullis/db/target";
import { testPgUrl } from "@portcullis/db/testing";
import { afterAll, expect, test } from "vitest";
import { TargetPools } from "../src/execution/pools.js";
import { createLogger } from "../src/logger.js";

// Every target session is set up (parser-relevant settings, output formats) before it serves its first
// statement, and the setup is awaited rather than queued behind it: pg 8 warns about a query sent while
// another runs on the same client, and pg 9 refuses it.
const keyring = SecretKeyring.parse(generateSecretKey("k1"));
const t = parseTargetUrl(testPgUrl());
const policy: TargetPolicy = { networks: "any", allowAddresses: new Set(), stackDatabases: new Set(), allowPowerfulRoles: true };
const pools = new TargetPools({ max: 4, idleMs: 60_000, keyring, policy, onCountChange: () => {} }, createLogger("silent"));
afterAll(() => pools.closeAll());

function row(): TargetConnectionRow {
  const id = randomUUID();
  return { id, host: t.host, port: t.port, database: t.database, username: t.username, secretCiphertext: keyring.seal(t.password, id).ciphertext, sslMode: "disable", sslCaCert: null };
}

test("each new session has its settings before its first statement, with no query overlapping another", async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on("warning", onWarning);
  try {
    const pool = await pools.get(row());
    // Four sessions opened at once, each asked at once: the first statement of each sees the setup.
    const settings = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const client = await pool.connect();
        try {
          const { rows } = await client.query("SELECT current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds, current_setting('idle_in_transaction_session_timeout') AS idle, pg_backend_pid() AS pid");
          return rows[0] as { tz: string; ds: string; idle: string; pid: number };
        } finally {
          client.release();
        }
      }),
    );
    expect(new Set(settings.map((s) => s.pid)).size).toBe(4);
    for (const s of settings) expect(s).toMatchObject({ tz: "UTC", ds: "ISO, MDY", idle: "1min" });
    await new Promise((r) => setImmediate(r));
    expect(warnings.filter((w) => /already executing a query/.test(w))).toEqual([]);
  } finally {
    process.off("warning", onWarning);
  }
});
