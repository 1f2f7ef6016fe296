-- Round 2 L2 (issue 17): a curated tool found its database by name only, so a database removed and
-- added again under that name on another connection inherited the tool — its SQL checked against the
-- old connection's catalog at save time. `connection_id` binds the tool to the connection its database
-- had when it was saved; the gateway runs it only on a database of that connection. Not a foreign key
-- on purpose (as for grants): a binding, not a reference; NULL never runs.
ALTER TABLE "link_tools" ADD COLUMN "connection_id" UUID;

-- Tools already there are bound to what their name points at now (NULL: the link's first database, the
-- link's own connection). A name the link no longer has stays NULL until an admin saves the tool again.
UPDATE "link_tools" t SET "connection_id" = COALESCE(
    (SELECT l."connection_id" FROM "links" l WHERE l."id" = t."link_id" AND (t."database_name" IS NULL OR t."database_name" = l."database_name")),
    (SELECT d."connection_id" FROM "link_databases" d WHERE d."link_id" = t."link_id" AND d."name" = t."database_name"));
