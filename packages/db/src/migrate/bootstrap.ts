import pg from "pg";

/**
 * Gives the applications a role of their own on a cluster the operator controls (the project-local
 * one scripts/up.sh runs): not a superuser, no CREATEROLE/CREATEDB/REPLICATION/BYPASSRLS, owner of the
 * metadata database and of everything the migrations created in it, and nothing else. Run with a
 * superuser connection by up.sh only; the apps and the migration runner then use the role.
 *
 * Idempotent, and it upgrades a cluster of the old scheme (the apps connected as the superuser, which
 * owned every table): the role is created or its password set, ownership of the database, its schemas
 * and their objects moves to the role, and PUBLIC loses CONNECT on the database (other roles on the
 * cluster, such as the demo's target role, cannot even open it).
 */
export interface AppRoleOptions {
  /** A superuser connection to any database of the cluster (up.sh: the Unix socket, trust auth). */
  superuserUrl: string;
  database: string;
  role: string;
  password: string;
  /**
   * Remove the connecting superuser's password, so it can no longer sign in over TCP at all (only
   * through the socket directory, which only the OS user running the cluster can open). Clusters of
   * the old scheme had the well-known password "portcullis".
   */
  dropSuperuserPassword?: boolean;
}

export interface AppRoleResult {
  createdRole: boolean;
  createdDatabase: boolean;
  /** Objects whose ownership moved to the role (an old-scheme cluster being upgraded). */
  reassigned: number;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

export async function bootstrapAppRole(options: AppRoleOptions): Promise<AppRoleResult> {
  if (!IDENT.test(options.role) || !IDENT.test(options.database)) {
    throw new Error("role and database names must be lower-case identifiers ([a-z_][a-z0-9_]*)");
  }
  if (options.password.length < 16) throw new Error("the application role's password must be at least 16 characters");
  const role = pg.escapeIdentifier(options.role);
  const database = pg.escapeIdentifier(options.database);
  const password = pg.escapeLiteral(options.password);
  const attributes = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT";

  const cluster = await connect(options.superuserUrl, "postgres");
  let createdRole = false;
  let createdDatabase = false;
  try {
    const me = await cluster.query<{ rolsuper: boolean; current_user: string }>(
      "SELECT rolsuper, current_user FROM pg_roles WHERE rolname = current_user",
    );
    if (!me.rows[0]?.rolsuper) throw new Error("bootstrapAppRole needs a superuser connection");
    if (me.rows[0].current_user === options.role) throw new Error("the application role must not be the superuser itself");
    const exists = await cluster.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [options.role]);
    if (exists.rowCount) {
      await cluster.query(`ALTER ROLE ${role} ${attributes} PASSWORD ${password}`);
    } else {
      await cluster.query(`CREATE ROLE ${role} ${attributes} PASSWORD ${password}`);
      createdRole = true;
    }
    // Membership in another role would hand over its privileges (e.g. pg_read_server_files).
    const memberships = await cluster.query<{ rolname: string }>(
      "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid JOIN pg_roles me ON me.oid = m.member WHERE me.rolname = $1",
      [options.role],
    );
    for (const { rolname } of memberships.rows) await cluster.query(`REVOKE ${pg.escapeIdentifier(rolname)} FROM ${role}`);

    const db = await cluster.query("SELECT 1 FROM pg_database WHERE datname = $1", [options.database]);
    if (db.rowCount) {
      await cluster.query(`ALTER DATABASE ${database} OWNER TO ${role}`);
    } else {
      await cluster.query(`CREATE DATABASE ${database} OWNER ${role}`);
      createdDatabase = true;
    }
    await cluster.query(`REVOKE ALL ON DATABASE ${database} FROM PUBLIC`);
    await cluster.query(`GRANT CONNECT, TEMPORARY, CREATE ON DATABASE ${database} TO ${role}`);
    if (options.dropSuperuserPassword) await cluster.query("ALTER ROLE CURRENT_USER PASSWORD NULL");
  } finally {
    await cluster.end();
  }

  const inside = await connect(options.superuserUrl, options.database);
  let reassigned = 0;
  try {
    await inside.query("BEGIN");
    reassigned = await reassignOwnership(inside, options.role);
    await inside.query("COMMIT");
  } catch (error) {
    await inside.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    await inside.end();
  }
  return { createdRole, createdDatabase, reassigned };
}

async function connect(url: string, database: string): Promise<pg.Client> {
  const target = new URL(url);
  target.pathname = `/${database}`;
  const client = new pg.Client({ connectionString: target.toString() });
  await client.connect();
  return client;
}

/**
 * ALTER … OWNER for every object in the user schemas that the role does not own yet. REASSIGN OWNED
 * cannot be used: the old owner is the bootstrap superuser, whose system objects cannot move.
 * Extension members stay with the extension's owner; sequences owned by a column move with their table.
 */
async function reassignOwnership(client: pg.Client, roleName: string): Promise<number> {
  const role = pg.escapeIdentifier(roleName);
  const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'`;
  const notExtensionMember = (catalog: string) =>
    `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass AND d.objid = o.oid AND d.deptype = 'e')`;
  let count = 0;
  const run = async (sql: string) => {
    const { rows } = await client.query<{ stmt: string }>(sql);
    for (const { stmt } of rows) {
      await client.query(stmt);
      count++;
    }
  };
  await run(`
    SELECT format('ALTER SCHEMA %I OWNER TO ${role}', n.nspname) AS stmt
    FROM pg_namespace n WHERE ${userSchemas} AND n.nspowner <> (SELECT oid FROM pg_roles WHERE rolname = ${pg.escapeLiteral(roleName)})
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')`);
  const notMine = (column: string) => `${column} <> (SELECT oid FROM pg_roles WHERE rolname = ${pg.escapeLiteral(roleName)})`;
  await run(`
    SELECT format('ALTER TABLE %I.%I OWNER TO ${role}', n.nspname, o.relname) AS stmt
    FROM pg_class o JOIN pg_namespace n ON n.oid = o.relnamespace
    WHERE ${userSchemas} AND o.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${notMine("o.relowner")} AND ${notExtensionMember("pg_class")}`);
  await run(`
    SELECT format('ALTER SEQUENCE %I.%I OWNER TO ${role}', n.nspname, o.relname) AS stmt
    FROM pg_class o JOIN pg_namespace n ON n.oid = o.relnamespace
    WHERE ${userSchemas} AND o.relkind = 'S' AND ${notMine("o.relowner")} AND ${notExtensionMember("pg_class")}
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = o.oid AND d.deptype IN ('a', 'i'))`);
  await run(`
    SELECT format('ALTER ROUTINE %I.%I(%s) OWNER TO ${role}', n.nspname, o.proname, pg_get_function_identity_arguments(o.oid)) AS stmt
    FROM pg_proc o JOIN pg_namespace n ON n.oid = o.pronamespace
    WHERE ${userSchemas} AND ${notMine("o.proowner")} AND ${notExtensionMember("pg_proc")}`);
  await run(`
    SELECT format('ALTER TYPE %I.%I OWNER TO ${role}', n.nspname, o.typname) AS stmt
    FROM pg_type o JOIN pg_namespace n ON n.oid = o.typnamespace
    WHERE ${userSchemas} AND o.typtype IN ('e', 'd', 'r') AND ${notMine("o.typowner")} AND ${notExtensionMember("pg_type")}`);
  return count;
}
