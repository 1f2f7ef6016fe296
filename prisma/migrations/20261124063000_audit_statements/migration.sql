-- The Activity tab's "text in the SQL" search. A trigram index on audit_events.sql cost ~40% of
-- ingestion throughput (measured: every event's ~100 trigrams into a GIN index), so statement texts
-- are indexed once per team, by their *shape*: the text with every run of digits replaced by "?".
-- Agents send the same statements with different ids, limits and amounts, so shapes repeat where texts
-- do not, and only new shapes cost trigram-index work at ingestion. A substring search stays exact:
-- any digit-free part of the searched text appears unchanged in the shape, so the shapes containing the
-- longest such part are the candidates, and events are rechecked against their real text.

CREATE FUNCTION audit_sql_shape(sql text) RETURNS text
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT regexp_replace(sql, '[0-9]+', '?', 'g') $$;

ALTER TABLE "audit_events" ADD COLUMN "shape_hash" TEXT GENERATED ALWAYS AS (md5(audit_sql_shape("sql"))) STORED;
CREATE INDEX "audit_events_team_id_shape_hash_time_idx" ON "audit_events"("team_id", "shape_hash", "time" DESC);

CREATE TABLE "audit_statements" (
    "team_id" UUID NOT NULL,
    "shape_hash" TEXT NOT NULL,
    "shape" TEXT NOT NULL,
    "first_seen" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "audit_statements_pkey" PRIMARY KEY ("team_id", "shape_hash")
);
ALTER TABLE "audit_statements" ADD CONSTRAINT "audit_statements_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE;
CREATE INDEX "audit_statements_shape_trgm_idx" ON "audit_statements" USING gin ("shape" gin_trgm_ops);

-- A statement-level trigger keeps the table in step for every writer (the worker's COPY, tests, any
-- operator tool) with one set-based insert per statement.
CREATE FUNCTION audit_statements_collect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO audit_statements (team_id, shape_hash, shape)
  SELECT DISTINCT ON (team_id, shape_hash) team_id, shape_hash, audit_sql_shape(sql) FROM new_events WHERE sql IS NOT NULL
  ON CONFLICT (team_id, shape_hash) DO NOTHING;
  RETURN NULL;
END;
$$;

CREATE TRIGGER audit_events_collect_statements
  AFTER INSERT ON "audit_events"
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_statements_collect();

-- Events stored before this migration.
INSERT INTO audit_statements (team_id, shape_hash, shape)
SELECT DISTINCT ON (team_id, shape_hash) team_id, shape_hash, audit_sql_shape(sql) FROM audit_events WHERE sql IS NOT NULL
ON CONFLICT (team_id, shape_hash) DO NOTHING;
