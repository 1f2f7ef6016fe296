-- Configuration changes (scope edits, keys, roles, connections, retention…) carry who/what/before/after.
-- It is part of the chained content when present (canonical.ts), so an existing row (NULL) hashes as before.
ALTER TABLE "audit_events" ADD COLUMN "detail" TEXT;

-- The transactional outbox of configuration changes: a row is written in the same transaction as the
-- change it records, so the change and its record cannot diverge; the worker drains it into the chain
-- (idempotent on id, like every audit event). No foreign key to teams: the record of a team's deletion
-- is written in the transaction that deletes it, and must survive it.
CREATE TABLE "audit_outbox" (
  "id" UUID NOT NULL,
  "team_id" UUID NOT NULL,
  "event" TEXT NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "audit_outbox_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "audit_outbox_created_at_idx" ON "audit_outbox" ("created_at");

-- Events whose team no longer exists when they reach the worker (a team deleted while its calls were in
-- flight). SQL ran for them, so they are kept, operator-visible, instead of being dropped.
CREATE TABLE "audit_orphans" (
  "id" UUID NOT NULL,
  "team_id" UUID NOT NULL,
  "event" TEXT NOT NULL,
  "reason" TEXT NOT NULL,
  "received_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "audit_orphans_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "audit_orphans_team_id_received_at_idx" ON "audit_orphans" ("team_id", "received_at");
