-- Issue 16 point 4: the Auditor role reads and exports the team's Activity and changes nothing.
-- ADD VALUE may run inside the runner's per-migration transaction on PostgreSQL 12+, as long as
-- nothing in the same transaction uses the new value (nothing here does).
ALTER TYPE "Role" ADD VALUE IF NOT EXISTS 'auditor';
