import pg from "pg";

export interface SeedToolCallsOptions {
  teamId: string;
  linkId: string;
  /** Events inserted. */
  count: number;
  /** Distinct statement texts they are spread over (round robin). */
  distinct: number;
  /** Spread evenly over the last `days` days. */
  days?: number;
  /** First seq to use (the team's chain must not already hold these numbers). */
  firstSeq?: number;
}

/**
 * Realistic execute_sql/explain_query audit events for measuring readers of the audit trail (replay):
 * one INSERT … SELECT generate_series, so 100,000 events take seconds. The events are not chained
 * (prev_hash/hash are placeholders): for tests and measurements only, never for verification.
 */
export async function seedToolCallEvents(databaseUrl: string, o: SeedToolCallsOptions): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const result = await client.query(
      `INSERT INTO audit_events (id, team_id, time, seq, kind, link_id, tool, sql, tables, verdict, rule_id, reason, duration_ms, rows, prev_hash, hash)
       SELECT gen_random_uuid(), $1::uuid,
         now() - (($4::float8 * 86400) * (i::float8 / $2)) * interval '1 second',
         $5::bigint + i, 'tool_call', $3::uuid,
         CASE WHEN i % 10 = 0 THEN 'explain_query' ELSE 'execute_sql' END,
         CASE i % 4
           WHEN 0 THEN 'SELECT * FROM invoice WHERE customer_id = ' || ((i / 4) % $6)
           WHEN 1 THEN 'UPDATE invoice SET total = total WHERE invoice_id = ' || ((i / 4) % $6)
           WHEN 2 THEN 'SELECT email FROM customer WHERE customer_id = ' || ((i / 4) % $6)
           ELSE 'DELETE FROM invoice_line WHERE invoice_line_id = ' || ((i / 4) % $6)
         END,
         ARRAY['public.invoice'],
         (CASE WHEN i % 7 = 0 THEN 'blocked' ELSE 'allowed' END)::"AuditVerdict",
         CASE WHEN i % 7 = 0 THEN 'hidden_column' END, NULL, 1.5, 1,
         repeat('0', 64), md5(i::text) || md5(i::text)
       FROM generate_series(1, $2::int) AS i`,
      [o.teamId, o.count, o.linkId, o.days ?? 7, o.firstSeq ?? 1, Math.max(1, Math.floor(o.distinct / 4))],
    );
    return result.rowCount ?? 0;
  } finally {
    await client.end();
  }
}
