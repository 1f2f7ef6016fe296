-- Issue 14: the statement that actually ran when the policy rewrote it (row filters, masks, the virtual
-- catalog), and the names — never the values — of the member attributes it bound. Both enter the chained
-- content only when present (canonical.ts: rewritten_sql not null or attribute_names not empty), so every
-- existing row hashes as before. attribute_names is NOT NULL DEFAULT '{}' like `tables` (Prisma reads a
-- list column as an array; a constant default adds no rewrite of the table). No index: read in a detail.
ALTER TABLE "audit_events" ADD COLUMN "rewritten_sql" TEXT, ADD COLUMN "attribute_names" TEXT[] NOT NULL DEFAULT '{}';
