-- Attack finding 2 (issue 17): a grant or write request named its database only by name, so whatever
-- database later took that name inherited it. `connection_id` binds it to the connection it was made
-- for; the gateway applies or runs it only on a record of that connection. Not a foreign key on purpose:
-- it is a binding, not a reference, and ON DELETE SET NULL would unbind it (NULL never applies).
ALTER TABLE "write_requests" ADD COLUMN "connection_id" UUID;
ALTER TABLE "access_grants" ADD COLUMN "connection_id" UUID;

-- Rows already there are bound to what their name points at now (the first database: the link's own
-- connection). A name the link no longer has stays NULL, which the gateway never applies or runs.
UPDATE "access_grants" g SET "connection_id" = COALESCE(
    (SELECT l."connection_id" FROM "links" l WHERE l."id" = g."link_id" AND (g."database_name" IS NULL OR g."database_name" = l."database_name")),
    (SELECT d."connection_id" FROM "link_databases" d WHERE d."link_id" = g."link_id" AND d."name" = g."database_name"));
UPDATE "write_requests" r SET "connection_id" = COALESCE(
    (SELECT l."connection_id" FROM "links" l WHERE l."id" = r."link_id" AND (r."database_name" IS NULL OR r."database_name" = l."database_name")),
    (SELECT d."connection_id" FROM "link_databases" d WHERE d."link_id" = r."link_id" AND d."name" = r."database_name"));

-- The revocation when a database is removed, renamed or moved looks rows up by link and name.
CREATE INDEX "access_grants_link_id_database_name_idx" ON "access_grants"("link_id", "database_name") WHERE "status" IN ('pending', 'granted');
CREATE INDEX "write_requests_link_id_database_name_idx" ON "write_requests"("link_id", "database_name") WHERE "status" IN ('pending', 'approved');
