-- Retention (a chunked prune or a partition DROP) can move a team's anchor past a sink's cursor: the
-- events in between are gone for good. The exporter then skips to the anchor, tells the receiver (a
-- gap record), and counts what was skipped here so the team sees it next to the cursor.
ALTER TABLE "audit_sinks"
  ADD COLUMN "skipped_events" BIGINT NOT NULL DEFAULT 0,
  ADD COLUMN "last_gap_from"  BIGINT,
  ADD COLUMN "last_gap_to"    BIGINT,
  ADD COLUMN "last_gap_at"    TIMESTAMPTZ(3);
