-- The Activity tab's "text in the SQL" search. A trigram index on audit_events.sql cost ~40% of
-- ingestion throughput (every event's ~100 trigrams into a GIN index). Agents repeat the same
-- statements, so the texts are kept once per team in audit_statements and only those are
-- trigram-indexed; events point at their text by hash. A statement-level trigger keeps the table
-- in step for every writer (the worker's COPY, tests, any operator tool) in one set-based insert.

ALTER TABLE "audit_events" ADD COLUMN "sql_hash" TEXT GENERATED ALWAYS AS (md5("sql")) STORED;

CREATE TABLE "audit_statements" (
    "team_id" UUID NOT NULL,
    "sql_hash" TEXT NOT NULL,
    "sql" TEXT NOT NULL,
    "first_seen" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "audit_statements_pkey" PRIMARY KEY ("team_id", "sql_hash")
);
ALTER TABLE "audit_statements" ADD CONSTRAINT "audit_statements_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "audit_statements_sql_trgm_idx" ON "audit_statements" USING gin ("sql" gin_trgm_ops);

-- Events of one text, newest first: the second half of a text search, and retention's reference check.
CREATE INDEX "audit_events_team_id_sql_hash_time_idx" ON "audit_events"("team_id", "sql_hash", "time" DESC);
DROP INDEX IF EXISTS "audit_events_sql_trgm_idx";

CREATE FUNCTION audit_statements_collect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_statements (team_id, sql_hash, sql)
  SELECT DISTINCT ON (team_id, sql_hash) team_id, sql_hash, sql FROM new_events WHERE sql IS NOT NULL
  ON CONFLICT (team_id, sql_hash) DO NOTHING;
  RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_collect_statements
  AFTER INSERT ON "audit_events"
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_statements_collect();

INSERT INTO audit_statements (team_id, sql_hash, sql)
SELECT DISTINCT ON (team_id, sql_hash) team_id, sql_hash, sql FROM audit_events WHERE sql IS NOT NULL
ON CONFLICT (team_id, sql_hash) DO NOTHING;
