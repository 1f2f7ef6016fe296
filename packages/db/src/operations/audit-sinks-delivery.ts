import { type OperationsDb, queryOf, toDate } from "./sql-db.js";

/**
 * The worker's side of audit sinks. A sink is delivered by one worker at a time: `claimDueAuditSinks`
 * takes a lease (owner + expiry) on due sinks in one UPDATE, so two workers never hold the same sink;
 * a killed worker's lease simply expires. The cursor only moves through `advanceAuditSinkCursor`,
 * which checks the lease is still ours and the cursor is still where the batch started — a worker
 * whose lease lapsed mid-delivery cannot move it, and the next holder re-sends from the cursor
 * (at-least-once; the receiver dedups by seq or by the batch's idempotency key).
 */

export interface ClaimedAuditSink {
  id: string;
  teamId: string;
  name: string;
  kind: "webhook" | "file";
  url: string | null;
  secretCiphertext: string | null;
  status: "active" | "paused";
  cursorSeq: string;
  failures: number;
  failingSince: Date | null;
  /** A test was asked for (it runs whether the sink is active or paused). */
  testRequested: boolean;
  /** An ordinary delivery is due (active and past next_attempt_at). */
  due: boolean;
}

/**
 * Leases up to `limit` sinks that have work: a requested test, or (active and past next_attempt_at)
 * the team's chain head or retention anchor beyond the cursor. Idle sinks are never leased, so they
 * cannot fill the claim; the oldest next_attempt_at goes first and `releaseAuditSink` moves a served
 * sink's next_attempt_at to now (the back of the line), so every sink with work gets a turn. At most
 * `perTeam` sinks of one team leased at once, counting the ones other ticks (or workers) still hold:
 * per claim alone, concurrent ticks would each lease a team's next two and one team with slow
 * receivers could keep every tick busy while another team's sink waits.
 */
export async function claimDueAuditSinks(db: OperationsDb, input: { owner: string; leaseMs: number; limit: number; perTeam?: number }): Promise<ClaimedAuditSink[]> {
  const rows = await queryOf(db)<Record<string, unknown>>(
    `WITH held AS (SELECT team_id, count(*)::int AS n FROM audit_sinks WHERE lease_until >= now() GROUP BY team_id),
     ready AS (
       SELECT s.id, s.next_attempt_at, COALESCE(l.n, 0) AS held,
              row_number() OVER (PARTITION BY s.team_id ORDER BY s.next_attempt_at, s.id) AS rn
         FROM audit_sinks s
         LEFT JOIN held l ON l.team_id = s.team_id
         LEFT JOIN audit_chain_heads h ON h.team_id = s.team_id
         LEFT JOIN audit_chain_anchors a ON a.team_id = s.team_id
        WHERE (s.lease_until IS NULL OR s.lease_until < now())
          AND (s.test_requested_at IS NOT NULL
               OR (s.status = 'active' AND s.next_attempt_at <= now()
                   AND GREATEST(COALESCE(h.last_seq, 0), COALESCE(a.pruned_through_seq, 0)) > s.cursor_seq))),
     picked AS (SELECT id FROM ready WHERE rn + held <= $4::int ORDER BY next_attempt_at, id LIMIT $3::int),
     due AS (
       SELECT s.id FROM audit_sinks s JOIN picked p ON p.id = s.id
        WHERE s.lease_until IS NULL OR s.lease_until < now()
        FOR UPDATE OF s SKIP LOCKED)
     UPDATE audit_sinks s SET lease_owner = $1, lease_until = now() + ($2::int * interval '1 millisecond')
       FROM due WHERE s.id = due.id
     RETURNING s.id::text AS id, s.team_id::text AS team_id, s.name, s.kind, s.url, s.secret_ciphertext, s.status,
       s.cursor_seq::text AS cursor_seq, s.failures, s.failing_since, s.test_requested_at IS NOT NULL AS test_requested,
       (s.status = 'active' AND s.next_attempt_at <= now()) AS due`,
    [input.owner, input.leaseMs, input.limit, input.perTeam ?? 2],
  );
  return rows.map((r) => ({
    id: r.id as string,
    teamId: r.team_id as string,
    name: r.name as string,
    kind: r.kind as "webhook" | "file",
    url: (r.url as string | null) ?? null,
    secretCiphertext: (r.secret_ciphertext as string | null) ?? null,
    status: r.status as "active" | "paused",
    cursorSeq: r.cursor_seq as string,
    failures: Number(r.failures),
    failingSince: toDate(r.failing_since),
    testRequested: Boolean(r.test_requested),
    due: Boolean(r.due),
  }));
}

/** Extends our lease before a long delivery step; false when it is no longer ours (stop, do not deliver). */
export async function renewAuditSinkLease(db: OperationsDb, input: { sinkId: string; owner: string; leaseMs: number }): Promise<boolean> {
  const rows = await queryOf(db)(
    "UPDATE audit_sinks SET lease_until = now() + ($3::int * interval '1 millisecond') WHERE id = $1::uuid AND lease_owner = $2 AND lease_until >= now() RETURNING 1",
    [input.sinkId, input.owner, input.leaseMs],
  );
  return rows.length === 1;
}

/**
 * Moves the cursor past a delivered batch; false (nothing changed) if the lease or the cursor moved
 * meanwhile. `gap`: the batch told the receiver that retention removed these seqs; they are counted
 * as skipped and the last gap is kept for the team to see.
 */
export async function advanceAuditSinkCursor(
  db: OperationsDb,
  input: { sinkId: string; owner: string; fromSeq: string; toSeq: string; toHash: string; count: number; gap?: { fromSeq: string; toSeq: string; reason?: "retention" | "missing" } | null },
): Promise<boolean> {
  const gap = input.gap ?? null;
  // Missing events (not retention) stay in last_error until a failure replaces it: the team must see
  // it and run verify, and the next delivered batch must not wipe it.
  const missing = gap?.reason === "missing" ? missingEventsError(gap.fromSeq, gap.toSeq) : null;
  const rows = await queryOf(db)(
    `UPDATE audit_sinks SET cursor_seq = $4::int8, cursor_hash = $5, delivered_count = delivered_count + $6::int,
        failures = 0, failing_since = NULL,
        last_error = CASE WHEN $9::text IS NOT NULL THEN $9::text WHEN last_error LIKE '${MISSING_MARK}' THEN last_error ELSE NULL END, last_status = NULL, last_attempt_at = now(), last_delivered_at = now(), updated_at = now(),
        skipped_events = skipped_events + COALESCE($8::int8 - $7::int8 + 1, 0),
        last_gap_from = COALESCE($7::int8, last_gap_from), last_gap_to = COALESCE($8::int8, last_gap_to),
        last_gap_at = CASE WHEN $7::int8 IS NULL THEN last_gap_at ELSE now() END
      WHERE id = $1::uuid AND lease_owner = $2 AND lease_until >= now() AND cursor_seq = $3::int8
      RETURNING 1`,
    [input.sinkId, input.owner, input.fromSeq, input.toSeq, input.toHash, input.count, gap?.fromSeq ?? null, gap?.toSeq ?? null, missing],
  );
  return rows.length === 1;
}

const MISSING_MARK = "events % missing from the chain%";

/** What a sink shows after skipping events that were not removed by retention. */
export function missingEventsError(fromSeq: string, toSeq: string): string {
  return `events ${fromSeq}..${toSeq} missing from the chain: run \`portcullis audit verify\``;
}

/**
 * A failed attempt: the error, the next attempt's time, and — when `pauseReason` is given — the sink
 * paused with that reason shown to the team. Only the lease holder records it.
 */
export async function recordAuditSinkFailure(
  db: OperationsDb,
  input: { sinkId: string; owner: string; error: string; status: number | null; retryInMs: number; pauseReason?: string | null },
): Promise<void> {
  await queryOf(db)(
    `UPDATE audit_sinks SET failures = failures + 1, failing_since = COALESCE(failing_since, now()), last_error = $3, last_status = $4::int,
        last_attempt_at = now(), next_attempt_at = now() + ($5::int * interval '1 millisecond'),
        status = CASE WHEN $6::text IS NULL THEN status ELSE 'paused' END, paused_reason = COALESCE($6::text, paused_reason), updated_at = now()
      WHERE id = $1::uuid AND lease_owner = $2`,
    [input.sinkId, input.owner, input.error.slice(0, 1000), input.status, Math.min(Math.round(input.retryInMs), 2_000_000_000), input.pauseReason ?? null],
  );
}

/** The outcome of a requested test (clears the request). */
export async function recordAuditSinkTest(db: OperationsDb, input: { sinkId: string; owner: string; ok: boolean; error: string | null }): Promise<void> {
  await queryOf(db)(
    `UPDATE audit_sinks SET test_requested_at = NULL, last_test_at = now(), last_test_ok = $3, last_test_error = $4
      WHERE id = $1::uuid AND lease_owner = $2`,
    [input.sinkId, input.owner, input.ok, input.error?.slice(0, 1000) ?? null],
  );
}

/**
 * Gives the lease back. A served sink is due again at once but behind every sink that waited longer
 * (next_attempt_at = now); a failure's backoff (a later next_attempt_at) is kept.
 */
export async function releaseAuditSink(db: OperationsDb, input: { sinkId: string; owner: string }): Promise<void> {
  await queryOf(db)(
    "UPDATE audit_sinks SET lease_owner = NULL, lease_until = NULL, next_attempt_at = GREATEST(next_attempt_at, now()) WHERE id = $1::uuid AND lease_owner = $2",
    [input.sinkId, input.owner],
  );
}

/**
 * Per sink kind, for /metrics: the largest lag (team head seq − cursor) of any sink and how many are
 * paused. Kinds without sinks are reported as 0, so a gauge falls back when its last sink goes.
 */
export async function auditSinkGauges(db: OperationsDb): Promise<{ kind: "webhook" | "file"; maxLag: number; paused: number }[]> {
  const rows = await queryOf(db)<{ kind: "webhook" | "file"; max_lag: string; paused: number }>(
    `SELECT k.kind, COALESCE(max(GREATEST(COALESCE(h.last_seq, 0) - s.cursor_seq, 0)), 0)::text AS max_lag,
            count(*) FILTER (WHERE s.status = 'paused')::int AS paused
       FROM (VALUES ('webhook'), ('file')) AS k(kind)
       LEFT JOIN audit_sinks s ON s.kind = k.kind
       LEFT JOIN audit_chain_heads h ON h.team_id = s.team_id
      GROUP BY k.kind ORDER BY k.kind`,
  );
  return rows.map((r) => ({ kind: r.kind, maxLag: Number(r.max_lag), paused: Number(r.paused) }));
}
