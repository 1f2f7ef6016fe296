-- Activity's charts on tens of millions of events (issue 16). Counting and percentile_cont over a
-- week of a big team (millions of rows) cannot answer in under a second, so events are folded into
-- hourly rollups as they are stored, and the charts read whole hours from here and only the partial
-- hours at the window's edges from audit_events.
--
-- One row per (team, dimension, value, UTC hour, verdict, blocked rule, latency bucket) with its count.
-- A dimension is one Activity filter (link, key, member, tool, client) or none (''): every event adds
-- one to each of its six slices, so a chart with no filter or with one of those filters (plus the
-- verdict, part of every key) reads a few thousand rows instead of millions. Latency is kept as a
-- fixed log-scale histogram (see audit_latency_bucket) from which p50/p95/p99 are read: approximate
-- within one bucket (x1.25, i.e. about ±12% around the bucket's middle). Counts are exact.

-- Bucket 0 holds durations up to 0.1 ms; bucket i >= 1 holds [0.1 * 1.25^(i-1), 0.1 * 1.25^i) ms;
-- bucket 80 everything from about 4,500 s up. Immutable: readers use it on raw rows at the edges.
CREATE FUNCTION audit_latency_bucket(ms double precision) RETURNS smallint
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE WHEN ms IS NULL OR ms < 0.1 THEN 0 ELSE least(80, 1 + floor(ln(ms / 0.1) / ln(1.25)))::smallint END $$;

CREATE TABLE "audit_rollups" (
    "team_id" UUID NOT NULL,
    -- '' (the whole team), 'l' link, 'k' API key, 'm' member, 't' tool, 'c' client name.
    "dim" TEXT NOT NULL,
    "val" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "verdict" "AuditVerdict" NOT NULL,
    -- The rule of a blocked event ('' for other verdicts or none): the "top blocked rules" chart.
    "rule_id" TEXT NOT NULL,
    -- The latency bucket of an allowed event; -1 for others (their latency is not charted).
    "lb" SMALLINT NOT NULL,
    "n" BIGINT NOT NULL,
    CONSTRAINT "audit_rollups_pkey" PRIMARY KEY ("team_id", "dim", "val", "hour", "verdict", "rule_id", "lb")
);

-- The "top tables" chart: events per table name per slice, hour and verdict (an event counts once per table).
CREATE TABLE "audit_rollup_tables" (
    "team_id" UUID NOT NULL,
    "dim" TEXT NOT NULL,
    "val" TEXT NOT NULL,
    "hour" TIMESTAMPTZ(3) NOT NULL,
    "verdict" "AuditVerdict" NOT NULL,
    "table_name" TEXT NOT NULL,
    "n" BIGINT NOT NULL,
    CONSTRAINT "audit_rollup_tables_pkey" PRIMARY KEY ("team_id", "dim", "val", "hour", "verdict", "table_name")
);

-- The fold, written once as SQL text over a named source of events: the insert and delete triggers
-- run it over their transition tables (visible only to the trigger function's own statements, hence
-- EXECUTE there) and rebuilds over a range of audit_events, so the three cannot fold differently.
-- Rows come out in key order, so concurrent batches lock the slices they share in the same order.
CREATE FUNCTION audit_rollup_slices_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'SELECT e.team_id, d.dim, d.val, date_trunc(''hour'', e.time, ''UTC'') AS hour, e.verdict,
                 CASE WHEN e.verdict = ''blocked'' THEN coalesce(e.rule_id, '''') ELSE '''' END AS rule_id,
                 CASE WHEN e.verdict = ''allowed'' THEN audit_latency_bucket(e.duration_ms) ELSE -1::smallint END AS lb,
                 count(*) AS n
            FROM ' || source || ' e
            CROSS JOIN LATERAL (VALUES ('''', ''''), (''l'', e.link_id::text), (''k'', e.api_key_id::text), (''m'', e.user_id::text), (''t'', e.tool), (''c'', e.client_name)) AS d(dim, val)
           WHERE d.val IS NOT NULL
           GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7'
$$;

CREATE FUNCTION audit_rollup_table_slices_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'SELECT e.team_id, d.dim, d.val, date_trunc(''hour'', e.time, ''UTC'') AS hour, e.verdict, t.name AS table_name, count(*) AS n
            FROM ' || source || ' e
            CROSS JOIN LATERAL (SELECT DISTINCT x AS name FROM unnest(e.tables) x WHERE x IS NOT NULL) t
            CROSS JOIN LATERAL (VALUES ('''', ''''), (''l'', e.link_id::text), (''k'', e.api_key_id::text), (''m'', e.user_id::text), (''t'', e.tool), (''c'', e.client_name)) AS d(dim, val)
           WHERE d.val IS NOT NULL
           GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6'
$$;

-- Statement-level triggers with transition tables: one set-based fold per ingested batch (the
-- worker's COPY, tests, operators' tools alike), on the partitioned parent as on a plain table.
CREATE FUNCTION audit_rollups_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'INSERT INTO audit_rollups AS r (team_id, dim, val, hour, verdict, rule_id, lb, n) '
    || audit_rollup_slices_sql('new_events')
    || ' ON CONFLICT (team_id, dim, val, hour, verdict, rule_id, lb) DO UPDATE SET n = r.n + excluded.n';
  EXECUTE 'INSERT INTO audit_rollup_tables AS r (team_id, dim, val, hour, verdict, table_name, n) '
    || audit_rollup_table_slices_sql('new_events')
    || ' ON CONFLICT (team_id, dim, val, hour, verdict, table_name) DO UPDATE SET n = r.n + excluded.n';
  RETURN NULL;
END;
$$;

-- Deleted events (retention by DELETE, a team's deletion moving its events to audit_orphans) leave
-- the rollups with them: subtract, then drop the slices that reached zero. Dropped or detached
-- partitions fire no trigger: whoever drops them rebuilds that range (audit_rollups_rebuild).
CREATE FUNCTION audit_rollups_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE 'WITH d AS (' || audit_rollup_slices_sql('old_events') || ')
    UPDATE audit_rollups r SET n = r.n - d.n FROM d
     WHERE (r.team_id, r.dim, r.val, r.hour, r.verdict, r.rule_id, r.lb) = (d.team_id, d.dim, d.val, d.hour, d.verdict, d.rule_id, d.lb)';
  EXECUTE 'DELETE FROM audit_rollups r USING (SELECT DISTINCT team_id, dim, val, hour FROM (' || audit_rollup_slices_sql('old_events') || ') s) d
     WHERE (r.team_id, r.dim, r.val, r.hour) = (d.team_id, d.dim, d.val, d.hour) AND r.n <= 0';
  EXECUTE 'WITH d AS (' || audit_rollup_table_slices_sql('old_events') || ')
    UPDATE audit_rollup_tables r SET n = r.n - d.n FROM d
     WHERE (r.team_id, r.dim, r.val, r.hour, r.verdict, r.table_name) = (d.team_id, d.dim, d.val, d.hour, d.verdict, d.table_name)';
  EXECUTE 'DELETE FROM audit_rollup_tables r USING (SELECT DISTINCT team_id, dim, val, hour FROM (' || audit_rollup_table_slices_sql('old_events') || ') s) d
     WHERE (r.team_id, r.dim, r.val, r.hour) = (d.team_id, d.dim, d.val, d.hour) AND r.n <= 0';
  RETURN NULL;
END;
$$;

-- Recomputes the rollups of the whole UTC hours covering [from, to) from the events stored there now:
-- after partitions are dropped or detached (no trigger fires), or to repair. Excludes ingestion's
-- folds while it runs (they queue behind it), so no batch is counted twice or lost.
CREATE FUNCTION audit_rollups_rebuild(from_time timestamptz, to_time timestamptz) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  h0 timestamptz := date_trunc('hour', from_time, 'UTC');
  h1 timestamptz := CASE WHEN date_trunc('hour', to_time, 'UTC') = to_time THEN to_time ELSE date_trunc('hour', to_time, 'UTC') + interval '1 hour' END;
  src text := format('(SELECT * FROM audit_events WHERE time >= %L AND time < %L)', h0, h1);
  folded bigint;
BEGIN
  LOCK TABLE audit_rollups, audit_rollup_tables IN EXCLUSIVE MODE;
  DELETE FROM audit_rollups WHERE hour >= h0 AND hour < h1;
  DELETE FROM audit_rollup_tables WHERE hour >= h0 AND hour < h1;
  EXECUTE 'INSERT INTO audit_rollups (team_id, dim, val, hour, verdict, rule_id, lb, n) ' || audit_rollup_slices_sql(src);
  GET DIAGNOSTICS folded = ROW_COUNT;
  EXECUTE 'INSERT INTO audit_rollup_tables (team_id, dim, val, hour, verdict, table_name, n) ' || audit_rollup_table_slices_sql(src);
  RETURN folded;
END;
$$;

CREATE TRIGGER audit_events_rollups_add
  AFTER INSERT ON "audit_events"
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_rollups_add();

CREATE TRIGGER audit_events_rollups_remove
  AFTER DELETE ON "audit_events"
  REFERENCING OLD TABLE AS old_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_rollups_remove();

-- Events stored before this migration.
SELECT audit_rollups_rebuild('-infinity', 'infinity');
