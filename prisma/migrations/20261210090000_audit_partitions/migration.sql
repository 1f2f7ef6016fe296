-- Issue 16: audit_events partitioned by month of the event's time, so retention drops a whole month
-- (a file unlink) instead of deleting millions of rows, and Activity's time windows read only the
-- months they cover.
--
-- The key is the producer's time, not ingested_at: it is fixed per event id, so a replayed event lands
-- in the same partition as its first delivery and the primary key (id, time) keeps ingestion
-- exactly-once (the worker's duplicate check is pruned by the batch's times).
--
-- (team_id, seq) cannot stay UNIQUE: a unique index on a partitioned table must contain the partition
-- key. It is a plain index now. Sequence numbers stay unique because only the worker assigns them, under
-- the team's chain-head row lock (ingest.ts); a duplicate written around it is a break verifyAuditChain
-- reports (the walk expects exactly one event per seq).
--
-- Partitions are audit_events_pYYYYMM, [first of the month, first of the next) in UTC, plus
-- audit_events_default for anything outside the created range (a producer clock years off, or the
-- stragglers partition retention keeps: see packages/db/src/audit/partitions.ts). The worker creates
-- the coming months (ensurePartitions, hourly and at start); this migration creates the months the
-- existing events cover (at most ten years back) through three months ahead.
--
-- The conversion runs in the migration's one transaction: the table is renamed, the partitioned table
-- created with the same columns, defaults and generated column (LIKE … INCLUDING), the rows moved, the
-- old table dropped, and its indexes and trigger re-created on the new parent under their old names
-- (each partition gets its own copy of every index). No other table refers to audit_events (the team
-- cascade is a trigger on teams that names audit_events at run time) and it carries no grants.

ALTER TABLE "audit_events" RENAME TO "audit_events_old";

CREATE TABLE "audit_events" (
  LIKE "audit_events_old" INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING CONSTRAINTS INCLUDING STORAGE INCLUDING COMMENTS
) PARTITION BY RANGE ("time");

DO $$
DECLARE
  this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
  first_month date;
  m date;
BEGIN
  SELECT date_trunc('month', min("time") AT TIME ZONE 'UTC')::date INTO first_month
    FROM "audit_events_old" WHERE "time" >= now() - interval '10 years';
  m := least(coalesce(first_month, this_month), this_month);
  WHILE m <= this_month + interval '3 months' LOOP
    EXECUTE format('CREATE TABLE %I PARTITION OF "audit_events" FOR VALUES FROM (%L) TO (%L)',
      'audit_events_p' || to_char(m, 'YYYYMM'), m::text || ' 00:00:00+00', (m + interval '1 month')::date::text || ' 00:00:00+00');
    m := (m + interval '1 month')::date;
  END LOOP;
END $$;

CREATE TABLE "audit_events_default" PARTITION OF "audit_events" DEFAULT;

-- Every stored column but the generated shape_hash (PostgreSQL computes it again from sql).
INSERT INTO "audit_events" ("id", "team_id", "time", "seq", "kind", "link_id", "api_key_id", "oauth_client_id", "user_id",
  "client_name", "client_version", "tool", "sql", "fingerprint", "tables", "verdict", "rule_id", "reason", "duration_ms", "rows",
  "bytes", "error", "source_ip", "request_id", "prev_hash", "hash", "ingested_at", "detail", "protocol_version", "trace_id",
  "rewritten_sql", "attribute_names", "write_request_id", "access_grant_id", "database_name", "target_server")
SELECT "id", "team_id", "time", "seq", "kind", "link_id", "api_key_id", "oauth_client_id", "user_id",
  "client_name", "client_version", "tool", "sql", "fingerprint", "tables", "verdict", "rule_id", "reason", "duration_ms", "rows",
  "bytes", "error", "source_ip", "request_id", "prev_hash", "hash", "ingested_at", "detail", "protocol_version", "trace_id",
  "rewritten_sql", "attribute_names", "write_request_id", "access_grant_id", "database_name", "target_server"
FROM "audit_events_old";

-- Its indexes and the statement-collecting trigger go with it; their names are free again.
DROP TABLE "audit_events_old";

-- Built after the rows are in: one sorted build per partition instead of a row-by-row insert.
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id", "time");
CREATE INDEX "audit_events_team_id_seq_idx" ON "audit_events"("team_id", "seq");
CREATE INDEX "audit_events_team_id_time_id_idx" ON "audit_events"("team_id", "time" DESC, "id" DESC);
CREATE INDEX "audit_events_team_id_link_id_time_idx" ON "audit_events"("team_id", "link_id", "time" DESC);
CREATE INDEX "audit_events_team_id_api_key_id_time_idx" ON "audit_events"("team_id", "api_key_id", "time" DESC);
CREATE INDEX "audit_events_team_id_user_id_time_idx" ON "audit_events"("team_id", "user_id", "time" DESC);
CREATE INDEX "audit_events_team_id_verdict_time_idx" ON "audit_events"("team_id", "verdict", "time" DESC);
CREATE INDEX "audit_events_team_id_tool_time_idx" ON "audit_events"("team_id", "tool", "time" DESC);
CREATE INDEX "audit_events_team_id_shape_hash_time_idx" ON "audit_events"("team_id", "shape_hash", "time" DESC);
CREATE INDEX "audit_events_write_request_id_idx" ON "audit_events"("write_request_id") WHERE "write_request_id" IS NOT NULL;

-- Statement-level with a transition table: allowed on a partitioned table, fired once per COPY or
-- INSERT through the parent whichever partitions the rows land in.
CREATE TRIGGER audit_events_collect_statements
  AFTER INSERT ON "audit_events"
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_statements_collect();

ANALYZE "audit_events";
