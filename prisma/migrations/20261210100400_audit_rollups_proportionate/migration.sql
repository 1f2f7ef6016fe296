-- Activity's rollups in proportion to what they save (issue 16). Every event wrote one rollup row per
-- slice and latency bucket, and one table row per slice and table: with ten slices the rollups of
-- 10M events outgrew the events themselves and the fold cost ingestion tens of µs per event. A slice
-- earns its rows only where a chart would otherwise read a large share of a big team's events and
-- the filter is common:
--   '' the whole team, 'l' a link, 'm' a member (every member's own view), 't' a tool — histogram,
--   verdicts and blocked rules;
--   top tables (the widest fan-out: a row per table per event) only for '' and 'l'.
-- API key, client, kind, MCP revision, server and database charts read the events in their window
-- (team/time indexes, monthly partitions pruned), as combined filters and text search always did.
--
-- Nothing is refolded: the kept slices are computed exactly as before, so only the dropped slices'
-- rows are deleted (measured on 1M events: see apps/web/bench/activity-results.md). The lock holds
-- ingestion's folds for the duration of the deletes, as a rebuild does. A batch whose trigger built
-- its statement from the old fold just before and waits on the lock may still add its few rows of
-- dropped slices: no reader reads them, and the next rebuild of those hours removes them.

CREATE OR REPLACE FUNCTION audit_rollup_slices_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'SELECT e.team_id, d.dim, d.val, date_trunc(''hour'', e.time, ''UTC'') AS hour, e.verdict,
                 CASE WHEN e.verdict = ''blocked'' THEN coalesce(e.rule_id, '''') ELSE '''' END AS rule_id,
                 CASE WHEN e.verdict = ''allowed'' THEN audit_latency_bucket(e.duration_ms) ELSE -1::smallint END AS lb,
                 count(*) AS n
            FROM ' || source || ' e
            CROSS JOIN LATERAL (VALUES ('''', ''''), (''l'', e.link_id::text), (''m'', e.user_id::text), (''t'', e.tool)) AS d(dim, val)
           WHERE d.val IS NOT NULL
           GROUP BY 1, 2, 3, 4, 5, 6, 7 ORDER BY 1, 2, 3, 4, 5, 6, 7'
$$;

CREATE OR REPLACE FUNCTION audit_rollup_table_slices_sql(source text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'SELECT e.team_id, d.dim, d.val, date_trunc(''hour'', e.time, ''UTC'') AS hour, e.verdict, t.name AS table_name, count(*) AS n
            FROM ' || source || ' e
            CROSS JOIN LATERAL (SELECT DISTINCT x AS name FROM unnest(e.tables) x WHERE x IS NOT NULL) t
            CROSS JOIN LATERAL (VALUES ('''', ''''), (''l'', e.link_id::text)) AS d(dim, val)
           WHERE d.val IS NOT NULL
           GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 2, 3, 4, 5, 6'
$$;

LOCK TABLE audit_rollups, audit_rollup_tables IN EXCLUSIVE MODE;
DELETE FROM audit_rollups WHERE dim NOT IN ('', 'l', 'm', 't');
DELETE FROM audit_rollup_tables WHERE dim NOT IN ('', 'l');
