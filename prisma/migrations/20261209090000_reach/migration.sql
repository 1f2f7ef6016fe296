-- Issue 17: reaching the databases teams really run. SSH tunnels (with jump hosts), client certificates,
-- read replicas, several databases per link, and curated tools per link. Contract: docs/design/reach.md.

-- Cross-tenant references are impossible by construction: every new row that names a connection or a
-- link carries the team id, and the composite foreign keys below make the database refuse a row whose
-- connection or link belongs to another team, whatever the caller parsed.
CREATE UNIQUE INDEX "connections_team_id_id_key" ON "connections"("team_id", "id");
CREATE UNIQUE INDEX "links_team_id_id_key" ON "links"("team_id", "id");

-- TLS as operators need it: a client certificate (PEM, not secret) and its key (sealed like the
-- password), and the server name verify-full checks when it differs from `host` (an address, a tunnel).
ALTER TABLE "connections"
  ADD COLUMN "ssl_client_cert" TEXT,
  ADD COLUMN "ssl_client_key_ciphertext" TEXT,
  ADD COLUMN "ssl_server_name" TEXT,
  ADD COLUMN "replica_max_lag_ms" INTEGER NOT NULL DEFAULT 30000 CHECK ("replica_max_lag_ms" BETWEEN 0 AND 86400000);

-- An SSH route to the database: hops in order (position 0 is dialled first; every later hop is reached
-- through the one before — ProxyJump; the last hop forwards to the connection's host:port). Keys and
-- passphrases are sealed with the connection's keyring (AAD `<connection id>:ssh:<position>:key` and
-- `…:passphrase`). The host key is pinned: `host_key_sha256` is the confirmed fingerprint
-- ("SHA256:<base64>" as ssh-keygen prints it); a server offering another key (or any key while none is
-- confirmed) is refused, and what it offered is kept in `host_key_seen_sha256` for the dashboard to show.
CREATE TABLE "connection_ssh_hops" (
  "connection_id" UUID NOT NULL,
  "team_id" UUID NOT NULL,
  "position" INTEGER NOT NULL CHECK ("position" BETWEEN 0 AND 7),
  "host" TEXT NOT NULL,
  "port" INTEGER NOT NULL DEFAULT 22 CHECK ("port" BETWEEN 1 AND 65535),
  "username" TEXT NOT NULL,
  "private_key_ciphertext" TEXT NOT NULL,
  "passphrase_ciphertext" TEXT,
  "host_key_sha256" TEXT,
  "host_key_seen_sha256" TEXT,
  "host_key_seen_at" TIMESTAMPTZ(3),
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "connection_ssh_hops_pkey" PRIMARY KEY ("connection_id", "position"),
  CONSTRAINT "connection_ssh_hops_connection_fkey" FOREIGN KEY ("team_id", "connection_id") REFERENCES "connections"("team_id", "id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- Read replicas of a connection: same database, role and password, same SSH route and TLS settings.
CREATE TABLE "connection_replicas" (
  "id" UUID NOT NULL DEFAULT gen_random_uuid(),
  "connection_id" UUID NOT NULL,
  "team_id" UUID NOT NULL,
  "name" TEXT NOT NULL CHECK ("name" ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  "host" TEXT NOT NULL,
  "port" INTEGER NOT NULL DEFAULT 5432 CHECK ("port" BETWEEN 1 AND 65535),
  "position" INTEGER NOT NULL DEFAULT 0,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "connection_replicas_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "connection_replicas_connection_fkey" FOREIGN KEY ("team_id", "connection_id") REFERENCES "connections"("team_id", "id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "connection_replicas_connection_id_name_key" ON "connection_replicas"("connection_id", "name");

-- Several databases per link: the link's own connection and scope are its first database, named
-- `database_name` (the `database` argument of every tool); link_databases holds the others, each with its
-- own scope document. `disabled_tools`: the built-in tools the link does not expose (empty: all).
ALTER TABLE "links"
  ADD COLUMN "database_name" TEXT NOT NULL DEFAULT 'main' CHECK ("database_name" ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  ADD COLUMN "disabled_tools" TEXT[] NOT NULL DEFAULT '{}';
UPDATE "links" l SET "database_name" = COALESCE(NULLIF(left(trim(both '_' from regexp_replace(lower(c."database"), '[^a-z0-9_.-]+', '_', 'g')), 63), ''), 'main')
  FROM "connections" c WHERE c."id" = l."connection_id";
UPDATE "links" SET "database_name" = 'main' WHERE "database_name" !~ '^[A-Za-z0-9]';

CREATE TABLE "link_databases" (
  "link_id" UUID NOT NULL,
  "team_id" UUID NOT NULL,
  "name" TEXT NOT NULL CHECK ("name" ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$'),
  "connection_id" UUID NOT NULL,
  "scope" JSONB NOT NULL,
  "position" INTEGER NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "link_databases_pkey" PRIMARY KEY ("link_id", "name"),
  CONSTRAINT "link_databases_link_fkey" FOREIGN KEY ("team_id", "link_id") REFERENCES "links"("team_id", "id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "link_databases_connection_fkey" FOREIGN KEY ("team_id", "connection_id") REFERENCES "connections"("team_id", "id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "link_databases_connection_id_idx" ON "link_databases"("connection_id");

-- Curated tools: saved, parameterised queries exposed as named tools. `parameters`:
-- [{ name, type, description, required, default? }] bound in order to $1..$n — never spliced.
-- `database_name`: which of the link's databases it runs on (NULL: the first).
CREATE TABLE "link_tools" (
  "id" UUID NOT NULL DEFAULT gen_random_uuid(),
  "link_id" UUID NOT NULL,
  "team_id" UUID NOT NULL,
  "name" TEXT NOT NULL CHECK ("name" ~ '^[a-z][a-z0-9_]{0,63}$'),
  "title" TEXT,
  "description" TEXT NOT NULL,
  "sql" TEXT NOT NULL,
  "parameters" JSONB NOT NULL DEFAULT '[]',
  "database_name" TEXT,
  "created_by_id" UUID,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "link_tools_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "link_tools_link_fkey" FOREIGN KEY ("team_id", "link_id") REFERENCES "links"("team_id", "id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "link_tools_created_by_id_fkey" FOREIGN KEY ("created_by_id") REFERENCES "users"("id") ON DELETE SET NULL ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "link_tools_link_id_name_key" ON "link_tools"("link_id", "name");

-- Which database of a link a write request or an access grant is for (NULL: the link's first), and
-- which database and server ran an audited statement.
ALTER TABLE "write_requests" ADD COLUMN "database_name" TEXT;
ALTER TABLE "access_grants" ADD COLUMN "database_name" TEXT;
ALTER TABLE "audit_events" ADD COLUMN "database_name" TEXT, ADD COLUMN "target_server" TEXT;

-- The gateways drop cached links at once when any of these change (see 20261206100000).
CREATE TRIGGER link_databases_access_notify AFTER INSERT OR UPDATE OR DELETE ON "link_databases"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER link_tools_access_notify AFTER INSERT OR UPDATE OR DELETE ON "link_tools"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER connection_ssh_hops_access_notify AFTER INSERT OR UPDATE OR DELETE ON "connection_ssh_hops"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
CREATE TRIGGER connection_replicas_access_notify AFTER INSERT OR UPDATE OR DELETE ON "connection_replicas"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
DROP TRIGGER connections_access_notify ON "connections";
CREATE TRIGGER connections_access_notify
  AFTER UPDATE OF host, port, database, username, secret_ciphertext, secret_key_id, ssl_mode, ssl_ca_cert, team_id, role_privileges,
    ssl_client_cert, ssl_client_key_ciphertext, ssl_server_name, replica_max_lag_ms OR DELETE ON "connections"
  FOR EACH ROW EXECUTE FUNCTION portcullis_notify_access_change();
