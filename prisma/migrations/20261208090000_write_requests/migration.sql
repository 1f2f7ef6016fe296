-- Issue 15: a person in the loop. Write requests (approvals and confirmations), the members an admin
-- names as approvers of a link, time-boxed access grants (elevation), the team's notification channels
-- and their delivery log. The audit chain links request → decision → execution through
-- audit_events.write_request_id / access_grant_id.

CREATE TYPE "WriteRequestKind" AS ENUM ('approval', 'confirm');
-- pending → approved → executing → executed | failed; pending → rejected | expired; approved → expired.
CREATE TYPE "WriteRequestStatus" AS ENUM ('pending', 'approved', 'rejected', 'expired', 'executing', 'executed', 'failed');
CREATE TYPE "AccessGrantStatus" AS ENUM ('pending', 'granted', 'refused', 'revoked', 'expired');

CREATE TABLE "write_requests" (
  "id" UUID NOT NULL DEFAULT gen_random_uuid(),
  "team_id" UUID NOT NULL,
  "link_id" UUID NOT NULL,
  "kind" "WriteRequestKind" NOT NULL,
  "status" "WriteRequestStatus" NOT NULL DEFAULT 'pending',
  -- The strongest approval rule that applied (writes | destructive | confirm) and the tables it came from.
  "mode" TEXT NOT NULL,
  "tables" TEXT[] NOT NULL DEFAULT '{}',
  -- Why a person must decide, in words (shown to the model, the approver and in notifications).
  "reason" TEXT NOT NULL,
  -- Exactly what was asked: the caller's text and parameters; statement_hash = sha256 over both.
  "sql" TEXT NOT NULL,
  "params" JSONB NOT NULL DEFAULT '[]',
  "statement_hash" TEXT NOT NULL,
  "catalog_version" TEXT NOT NULL,
  "scope_hash" TEXT NOT NULL,
  -- Who asked: the member, and the key or OAuth grant (principal subject) that alone may execute it.
  "user_id" UUID,
  "api_key_id" UUID,
  "oauth_client_id" TEXT,
  "principal_subject" TEXT NOT NULL,
  "client_name" TEXT,
  -- The dry run: { affected, command, before[], after[], columns[], keyColumns[], plan, notes[] }.
  "preview" JSONB NOT NULL,
  "expires_at" TIMESTAMPTZ(3) NOT NULL,
  "execute_before" TIMESTAMPTZ(3),
  "decided_by" UUID,
  "decided_at" TIMESTAMPTZ(3),
  "decision_comment" TEXT,
  "executed_at" TIMESTAMPTZ(3),
  -- The execution's structured result (bounded by the link's limits) or its error.
  "result" JSONB,
  "error" TEXT,
  "request_audit_id" UUID,
  "execution_audit_id" UUID,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "write_requests_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "write_requests_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "write_requests_link_id_fkey" FOREIGN KEY ("link_id") REFERENCES "links"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "write_requests_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "write_requests_api_key_id_fkey" FOREIGN KEY ("api_key_id") REFERENCES "api_keys"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "write_requests_decided_by_fkey" FOREIGN KEY ("decided_by") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "write_requests_mode_check" CHECK ("mode" IN ('writes', 'destructive', 'confirm')),
  CONSTRAINT "write_requests_comment_check" CHECK ("decision_comment" IS NULL OR char_length("decision_comment") <= 2000)
);
CREATE INDEX "write_requests_team_id_status_created_at_idx" ON "write_requests"("team_id", "status", "created_at" DESC);
CREATE INDEX "write_requests_link_id_created_at_idx" ON "write_requests"("link_id", "created_at" DESC);
CREATE INDEX "write_requests_open_expiry_idx" ON "write_requests"("expires_at") WHERE "status" IN ('pending', 'approved');

-- Members (besides owners and admins) an admin names as approvers of a link.
CREATE TABLE "link_approvers" (
  "link_id" UUID NOT NULL,
  "user_id" UUID NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "link_approvers_pkey" PRIMARY KEY ("link_id", "user_id"),
  CONSTRAINT "link_approvers_link_id_fkey" FOREIGN KEY ("link_id") REFERENCES "links"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "link_approvers_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "link_approvers_user_id_idx" ON "link_approvers"("user_id");

-- Time-boxed elevation: one member, one table, one access level, for a number of minutes.
CREATE TABLE "access_grants" (
  "id" UUID NOT NULL DEFAULT gen_random_uuid(),
  "team_id" UUID NOT NULL,
  "link_id" UUID NOT NULL,
  "user_id" UUID NOT NULL,
  -- Canonical "schema.table".
  "table_key" TEXT NOT NULL,
  "access" TEXT NOT NULL,
  "minutes" INTEGER NOT NULL,
  "reason" TEXT NOT NULL,
  "status" "AccessGrantStatus" NOT NULL DEFAULT 'pending',
  -- tool (request_access), dashboard or cli.
  "requested_via" TEXT NOT NULL,
  "requested_by" UUID,
  "api_key_id" UUID,
  "oauth_client_id" TEXT,
  "decided_by" UUID,
  "decided_at" TIMESTAMPTZ(3),
  "decision_comment" TEXT,
  "starts_at" TIMESTAMPTZ(3),
  "expires_at" TIMESTAMPTZ(3),
  "revoked_by" UUID,
  "revoked_at" TIMESTAMPTZ(3),
  -- A pending request not decided by then expires.
  "request_expires_at" TIMESTAMPTZ(3) NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "access_grants_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "access_grants_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "access_grants_link_id_fkey" FOREIGN KEY ("link_id") REFERENCES "links"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "access_grants_user_id_fkey" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "access_grants_requested_by_fkey" FOREIGN KEY ("requested_by") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "access_grants_decided_by_fkey" FOREIGN KEY ("decided_by") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "access_grants_revoked_by_fkey" FOREIGN KEY ("revoked_by") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "access_grants_api_key_id_fkey" FOREIGN KEY ("api_key_id") REFERENCES "api_keys"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "access_grants_access_check" CHECK ("access" IN ('read', 'write', 'admin')),
  CONSTRAINT "access_grants_minutes_check" CHECK ("minutes" BETWEEN 1 AND 10080),
  CONSTRAINT "access_grants_via_check" CHECK ("requested_via" IN ('tool', 'dashboard', 'cli')),
  CONSTRAINT "access_grants_reason_check" CHECK (char_length("reason") BETWEEN 1 AND 2000)
);
CREATE INDEX "access_grants_link_id_status_idx" ON "access_grants"("link_id", "status");
CREATE INDEX "access_grants_team_id_created_at_idx" ON "access_grants"("team_id", "created_at" DESC);
CREATE INDEX "access_grants_user_id_idx" ON "access_grants"("user_id");

-- Where a team's approval notifications go: a signed webhook (Portcullis JSON or Slack-compatible) and
-- e-mail to the approvers. The webhook secret is sealed like connection passwords.
CREATE TABLE "team_notification_settings" (
  "team_id" UUID NOT NULL,
  "webhook_url" TEXT,
  "webhook_format" TEXT NOT NULL DEFAULT 'portcullis',
  "webhook_secret_ciphertext" TEXT,
  "webhook_secret_key_id" TEXT,
  "email_approvers" BOOLEAN NOT NULL DEFAULT true,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_by" UUID,
  CONSTRAINT "team_notification_settings_pkey" PRIMARY KEY ("team_id"),
  CONSTRAINT "team_notification_settings_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "team_notification_settings_updated_by_fkey" FOREIGN KEY ("updated_by") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "team_notification_settings_format_check" CHECK ("webhook_format" IN ('portcullis', 'slack'))
);

-- Transactional outbox of notification events: written in the transaction that creates or decides a
-- request (so none is lost when Redis or the worker is down), fanned out by the worker into deliveries.
CREATE TABLE "notification_outbox" (
  "id" UUID NOT NULL DEFAULT gen_random_uuid(),
  "team_id" UUID NOT NULL,
  -- write_request.created | write_request.decided | access_grant.requested | access_grant.decided
  "event" TEXT NOT NULL,
  "subject_id" UUID NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "processed_at" TIMESTAMPTZ(3),
  CONSTRAINT "notification_outbox_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "notification_outbox_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "notification_outbox_unprocessed_idx" ON "notification_outbox"("created_at") WHERE "processed_at" IS NULL;

-- Each notification sent (or being retried), for the dashboard and for the tests.
CREATE TABLE "notification_deliveries" (
  "id" UUID NOT NULL DEFAULT gen_random_uuid(),
  "team_id" UUID NOT NULL,
  -- write_request.created | write_request.decided | access_grant.requested | access_grant.decided …
  "event" TEXT NOT NULL,
  "subject_id" UUID NOT NULL,
  "channel" TEXT NOT NULL,
  "target" TEXT NOT NULL,
  "status" TEXT NOT NULL DEFAULT 'pending',
  "attempts" INTEGER NOT NULL DEFAULT 0,
  "last_error" TEXT,
  "response_status" INTEGER,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "delivered_at" TIMESTAMPTZ(3),
  CONSTRAINT "notification_deliveries_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "notification_deliveries_team_id_fkey" FOREIGN KEY ("team_id") REFERENCES "teams"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "notification_deliveries_channel_check" CHECK ("channel" IN ('webhook', 'email')),
  CONSTRAINT "notification_deliveries_status_check" CHECK ("status" IN ('pending', 'delivered', 'failed'))
);
CREATE UNIQUE INDEX "notification_deliveries_once_idx" ON "notification_deliveries"("event", "subject_id", "channel", "target");
CREATE INDEX "notification_deliveries_team_id_created_at_idx" ON "notification_deliveries"("team_id", "created_at" DESC);

ALTER TABLE "audit_events" ADD COLUMN "write_request_id" UUID;
ALTER TABLE "audit_events" ADD COLUMN "access_grant_id" UUID;
CREATE INDEX "audit_events_write_request_id_idx" ON "audit_events"("write_request_id") WHERE "write_request_id" IS NOT NULL;

-- Gateways cache a member's effective scope with their key or grant: access grants and approver lists
-- are announced on the access channel (migration 20261206100000), delivered on commit.
CREATE TRIGGER access_grants_access_notify AFTER INSERT OR UPDATE OR DELETE ON "access_grants"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
