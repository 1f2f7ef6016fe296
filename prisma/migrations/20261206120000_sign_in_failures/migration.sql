-- Failed password sign-ins per (account, source address). The lockout used to live on users
-- (failed_login_count, locked_until), so anyone could lock any account by failing five times; now a
-- source slows down only itself, progressively, and the owner signing in from elsewhere is untouched.
-- Keyed by a hash of the normalised e-mail (unknown addresses are treated exactly like known ones,
-- so the delays reveal nothing, and their rows hold no address in clear). Rows age out after a day.
-- No Prisma model: only apps/web/src/features/auth/credentials.ts reads or writes it, in SQL.
CREATE TABLE "sign_in_failures" (
  "email_hash"      TEXT NOT NULL,
  "source"          TEXT NOT NULL,
  "failures"        INTEGER NOT NULL DEFAULT 0,
  "last_failure_at" TIMESTAMPTZ(3) NOT NULL DEFAULT now(),
  "locked_until"    TIMESTAMPTZ(3),
  PRIMARY KEY ("email_hash", "source")
);
CREATE INDEX "sign_in_failures_last_failure_at" ON "sign_in_failures" ("last_failure_at");
