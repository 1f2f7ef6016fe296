-- Issue 16 point 4: audit sinks stream a team's audit trail, in chain order, to a signed webhook or a
-- JSON-lines directory. The cursor (seq + hash of the last delivered event) only moves after a
-- delivery succeeded, guarded by the lease of the one worker delivering the sink.
CREATE TABLE "audit_sinks" (
  "id"                UUID        NOT NULL DEFAULT gen_random_uuid(),
  "team_id"           UUID        NOT NULL,
  "name"              TEXT        NOT NULL,
  "kind"              TEXT        NOT NULL,
  "url"               TEXT,
  "secret_ciphertext" TEXT,
  "secret_key_id"     TEXT,
  "status"            TEXT        NOT NULL DEFAULT 'active',
  "paused_reason"     TEXT,
  "cursor_seq"        BIGINT      NOT NULL DEFAULT 0,
  "cursor_hash"       TEXT,
  "delivered_count"   BIGINT      NOT NULL DEFAULT 0,
  "failures"          INTEGER     NOT NULL DEFAULT 0,
  "failing_since"     TIMESTAMPTZ(3),
  "last_error"        TEXT,
  "last_status"       INTEGER,
  "last_attempt_at"   TIMESTAMPTZ(3),
  "last_delivered_at" TIMESTAMPTZ(3),
  "next_attempt_at"   TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "lease_owner"       TEXT,
  "lease_until"       TIMESTAMPTZ(3),
  "created_by"        UUID,
  "created_at"        TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "updated_at"        TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  CONSTRAINT "audit_sinks_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "audit_sinks_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  -- The name becomes a directory under AUDIT_EXPORT_DIR for file sinks: no dots, no slashes, ever.
  CONSTRAINT "audit_sinks_name_check" CHECK ("name" ~ '^[a-z0-9][a-z0-9-]{0,39}$'),
  CONSTRAINT "audit_sinks_kind_check" CHECK ("kind" IN ('webhook', 'file')),
  CONSTRAINT "audit_sinks_status_check" CHECK ("status" IN ('active', 'paused')),
  CONSTRAINT "audit_sinks_webhook_check" CHECK (("kind" = 'webhook') = ("url" IS NOT NULL AND "secret_ciphertext" IS NOT NULL))
);

CREATE UNIQUE INDEX "audit_sinks_team_id_name_key" ON "audit_sinks"("team_id", "name");
-- The worker's scan: active sinks due for an attempt.
CREATE INDEX "audit_sinks_due_idx" ON "audit_sinks"("next_attempt_at") WHERE "status" = 'active';
