-- "Send a test" from the dashboard or CLI: the request waits on the sink's row for the worker (which
-- holds the signing secret and the address rules) to send one signed test batch and write its outcome.
ALTER TABLE "audit_sinks"
  ADD COLUMN "test_requested_at" TIMESTAMPTZ(3),
  ADD COLUMN "last_test_at"      TIMESTAMPTZ(3),
  ADD COLUMN "last_test_ok"      BOOLEAN,
  ADD COLUMN "last_test_error"   TEXT;
