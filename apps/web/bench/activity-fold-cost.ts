import pg from "pg";
import { median } from "@portcullis/db/testing";

/**
 * What the rollup fold itself costs per ingested event, apart from the rest of ingestion (chain,
 * COPY, statement shapes), whose noise on a loaded machine hid it (activity-ingest's alternating
 * rounds measured -6.8 µs once at load 17). Takes `rounds` batches of `size` real generated events of
 * the busiest team (consecutive in time, as a worker's batch is), moves them to the current hour and
 * runs exactly the statements of the insert trigger (audit_rollup_slices_sql /
 * audit_rollup_table_slices_sql as the database defines them now) over them in a transaction that is
 * rolled back: the first batch of an hour inserts its rows, the next ones update them, as at run
 * time. Returns the median per batch and per event, and the rollup rows a batch touches.
 *
 * Usage: BENCH_ACTIVITY_DB_URL=postgresql://…/bench_activity_x npx tsx bench/activity-fold-cost.ts
 */
export async function measureFoldCost(url: string, rounds = 12, size = 1000): Promise<{ batchMs: number; perEventUs: number; rows: number; tableRows: number }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows: teams } = await client.query<{ team_id: string }>(`SELECT team_id FROM audit_events GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`);
    const team = teams[0]?.team_id;
    if (!team) throw new Error("no events to sample");
    const times: number[] = [];
    let rows = 0;
    let tableRows = 0;
    for (let r = 0; r < rounds; r++) {
      await client.query("BEGIN");
      try {
        // Each round folds two batches into the same fresh hour: the second one's upserts are updates.
        for (let half = 0; half < 2; half++) {
          await client.query(`DROP TABLE IF EXISTS fold_src`);
          await client.query(
            `CREATE TEMP TABLE fold_src ON COMMIT DROP AS
               SELECT e.*, date_trunc('hour', now()) + (e.time - date_trunc('hour', e.time)) AS moved
                 FROM (SELECT * FROM audit_events WHERE team_id = $1 ORDER BY time DESC OFFSET $2 LIMIT $3) e`,
            [team, (r * 2 + half) * size * 7, size],
          );
          await client.query(`UPDATE fold_src SET time = moved`);
          const { rows: sql } = await client.query<{ a: string; b: string }>(
            `SELECT audit_rollup_slices_sql('fold_src') AS a, audit_rollup_table_slices_sql('fold_src') AS b`,
          );
          const t0 = performance.now();
          const a = await client.query(
            `INSERT INTO audit_rollups AS r (team_id, dim, val, hour, verdict, rule_id, lb, n) ${sql[0]!.a}
             ON CONFLICT (team_id, dim, val, hour, verdict, rule_id, lb) DO UPDATE SET n = r.n + excluded.n`,
          );
          const b = await client.query(
            `INSERT INTO audit_rollup_tables AS r (team_id, dim, val, hour, verdict, table_name, n) ${sql[0]!.b}
             ON CONFLICT (team_id, dim, val, hour, verdict, table_name) DO UPDATE SET n = r.n + excluded.n`,
          );
          if (half === 1) {
            times.push(performance.now() - t0);
            rows += a.rowCount ?? 0;
            tableRows += b.rowCount ?? 0;
          }
        }
      } finally {
        await client.query("ROLLBACK");
      }
    }
    const batchMs = median(times);
    return { batchMs, perEventUs: (batchMs * 1000) / size, rows: rows / rounds, tableRows: tableRows / rounds };
  } finally {
    await client.end();
  }
}

if (process.argv[1]?.endsWith("activity-fold-cost.ts")) {
  const url = process.env.BENCH_ACTIVITY_DB_URL;
  if (!url) throw new Error("set BENCH_ACTIVITY_DB_URL");
  const r = await measureFoldCost(url, Number(process.env.BENCH_FOLD_ROUNDS ?? 12));
  console.log(
    `rollup fold of a 1,000-event batch (its hour already folded once): median ${r.batchMs.toFixed(1)} ms = ${r.perEventUs.toFixed(1)} µs per event; ` +
      `${r.rows.toFixed(0)} audit_rollups rows + ${r.tableRows.toFixed(0)} audit_rollup_tables rows upserted per batch`,
  );
}
