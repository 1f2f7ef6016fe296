-- Statement texts are indexed by their *shape*: the text with every run of digits replaced by "?".
-- Agents send the same statements with different ids, limits and amounts, so shapes repeat where texts
-- do not, and only new shapes cost trigram-index work at ingestion. A substring search stays exact:
-- any digit-free part of the searched text appears unchanged in the shape, so the shapes containing the
-- longest such part are the candidates, and events are rechecked against their real text.

DROP TRIGGER IF EXISTS audit_events_collect_statements ON "audit_events";
DROP FUNCTION IF EXISTS audit_statements_collect();
DROP TABLE IF EXISTS "audit_statements";
DROP INDEX IF EXISTS "audit_events_team_id_sql_hash_time_idx";
ALTER TABLE "audit_events" DROP COLUMN IF EXISTS "sql_hash";

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

INSERT INTO audit_statements (team_id, shape_hash, shape)
SELECT DISTINCT ON (team_id, shape_hash) team_id, shape_hash, audit_sql_shape(sql) FROM audit_events WHERE sql IS NOT NULL
ON CONFLICT (team_id, shape_hash) DO NOTHING;
