-- audit_rollups_rebuild deletes and refolds a range of hours for every team at once (after retention
-- drops a month's partition). Without an index on hour alone that was a scan of the whole rollup
-- tables; rollup rows arrive roughly in hour order, so a BRIN index finds the range for a few pages of
-- index and costs ingestion next to nothing (no per-row b-tree insert).
CREATE INDEX "audit_rollups_hour_brin_idx" ON "audit_rollups" USING brin ("hour");
CREATE INDEX "audit_rollup_tables_hour_brin_idx" ON "audit_rollup_tables" USING brin ("hour");
