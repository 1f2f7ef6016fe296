-- Issue 13: which MCP revision a call was served under, and the W3C trace id it carried. Both are part
-- of the chained content only when present (canonical.ts), so every existing row (NULL) hashes as before.
-- Validated by the worker (auditEventSchema), not by CHECK constraints: a row PostgreSQL refused would
-- fail its whole COPY batch. No index: a revision filter narrows the (team_id, time) scan the Activity
-- tab already does, and every index is paid by each ingested event.
ALTER TABLE "audit_events" ADD COLUMN "protocol_version" TEXT, ADD COLUMN "trace_id" TEXT;
