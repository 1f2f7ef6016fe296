-- A configuration-change record is authenticated by the process that wrote it (HMAC with
-- AUDIT_CHAIN_KEY): the worker chains only records it can authenticate, so someone who can write the
-- database cannot slip forged "changes" into a team's trail through the outbox.
ALTER TABLE "audit_outbox" ADD COLUMN "mac" TEXT;
