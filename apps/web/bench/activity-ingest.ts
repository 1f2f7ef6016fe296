import { randomUUID } from "node:crypto";
import pg from "pg";
import { ingestAuditBatch, type AuditEventInput } from "@portcullis/db/audit";
import { median } from "@portcullis/db/testing";

/**
 * What the rollup triggers cost ingestion: the worker's own write path (ingestAuditBatch: chain, COPY,
 * triggers) on the generated database, batches of `size` events spread over the last hour of a fresh
 * team, alternating rounds with the rollup insert trigger enabled and disabled.
 */
export async function measureRollupIngestCost(url: string, rounds = 6, size = 1000): Promise<{ onMs: number; offMs: number; perEventUs: number }> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  try {
    const teamId = randomUUID();
    await pool.query(`INSERT INTO teams (id, name, slug) VALUES ($1, 'ingest bench', $2)`, [teamId, `ingest-${teamId}`]);
    const batch = (): AuditEventInput[] =>
      Array.from({ length: size }, (_, i) => ({
        id: randomUUID(),
        time: new Date(Date.now() - Math.random() * 3_600_000).toISOString(),
        teamId,
        linkId: `00000000-0000-4002-8fff-${(i % 7).toString(16).padStart(12, "0")}`,
        apiKeyId: `00000000-0000-4003-8fff-${(i % 23).toString(16).padStart(12, "0")}`,
        userId: `00000000-0000-4004-8fff-${(i % 11).toString(16).padStart(12, "0")}`,
        clientName: ["cursor", "claude-code", "vscode"][i % 3],
        tool: i % 5 ? "execute_sql" : "describe_table",
        sql: `SELECT * FROM orders WHERE id = ${Math.floor(Math.random() * 1e6)}`,
        tables: ["public.orders"],
        verdict: i % 10 === 0 ? "blocked" : "allowed",
        ruleId: i % 10 === 0 ? "table_not_in_scope" : null,
        durationMs: Math.exp(Math.log(3) + Math.random() * 2),
      }));
    const on: number[] = [];
    const off: number[] = [];
    await ingestAuditBatch(pool, batch());
    for (let r = 0; r < rounds * 2; r++) {
      const enabled = r % 2 === 0;
      await pool.query(`ALTER TABLE audit_events ${enabled ? "ENABLE" : "DISABLE"} TRIGGER audit_events_rollups_add`);
      const events = batch();
      const t0 = performance.now();
      await ingestAuditBatch(pool, events);
      (enabled ? on : off).push(performance.now() - t0);
    }
    await pool.query(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_rollups_add`);
    const onMs = median(on);
    const offMs = median(off);
    return { onMs, offMs, perEventUs: ((onMs - offMs) * 1000) / size };
  } finally {
    await pool.end();
  }
}
