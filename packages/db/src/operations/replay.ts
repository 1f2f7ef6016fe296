import { z } from "zod";
import { type OperationsDb, parseInput, queryOf, toIso, uuidSchema } from "./sql-db.js";

/**
 * What a link was asked recently, for replaying a draft scope against it (issue 15): the execute_sql
 * and explain_query calls of the link, grouped by their exact text. One query on the
 * (team_id, link_id, time) index; the policy checks each distinct text once.
 */

export const REPLAY_TOOLS = ["execute_sql", "explain_query"] as const;
export const REPLAY_MAX_DAYS = 90;

export const replayStatementsInput = z.strictObject({
  teamId: uuidSchema,
  linkId: uuidSchema,
  days: z.number().int().min(1).max(REPLAY_MAX_DAYS).default(7),
  /** The most recent distinct texts kept. */
  limit: z.number().int().min(1).max(100_000).default(100_000),
});

export interface ReplayStatement {
  sql: string;
  calls: number;
  /** ISO time of the most recent call. */
  lastSeen: string;
}

export async function replayStatements(db: OperationsDb, input: z.input<typeof replayStatementsInput>): Promise<ReplayStatement[]> {
  const v = parseInput(replayStatementsInput, input);
  const rows = await queryOf(db)<{ sql: string; calls: number; last_seen: unknown }>(
    `SELECT e.sql, count(*)::int AS calls, max(e.time) AS last_seen
     FROM audit_events e
     WHERE e.team_id = $1::uuid AND e.link_id = $2::uuid AND e.time >= now() - make_interval(days => $3::int)
       AND e.kind = 'tool_call' AND e.tool = ANY($4::text[]) AND e.sql IS NOT NULL
     GROUP BY e.sql
     ORDER BY max(e.time) DESC
     LIMIT $5::int`,
    [v.teamId, v.linkId, v.days, [...REPLAY_TOOLS], v.limit],
  );
  return rows.map((r) => ({ sql: r.sql, calls: Number(r.calls), lastSeen: toIso(r.last_seen)! }));
}
