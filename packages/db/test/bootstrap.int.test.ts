import { randomBytes } from "node:crypto";
import { cp, mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bootstrapAppRole } from "../src/migrate/bootstrap.js";
import { DEFAULT_MIGRATIONS_DIR, migrate } from "../src/migrate/index.js";
import { createEmptyDatabase, testPgUrl, withClient } from "../src/testing/index.js";

/**
 * The applications' own metadata role (scripts/up.sh): judged by what the role can do on a real
 * cluster, for a fresh database and for one of the old scheme (everything owned by the superuser).
 */
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
});

function suffix() {
  return randomBytes(4).toString("hex");
}

function roleUrl(database: string, role: string, password: string) {
  const url = new URL(testPgUrl(database));
  url.username = role;
  url.password = password;
  return url.toString();
}


async function sqlState(url: string, sql: string): Promise<string> {
  try {
    await withClient(url, (c) => c.query(sql));
    return "ok";
  } catch (error) {
    return (error as { code?: string }).code ?? (error as Error).message;
  }
}

function dropRole(role: string, ...databases: string[]) {
  cleanup.push(async () => {
    for (const db of databases) await withClient(testPgUrl("postgres"), (c) => c.query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`));
    await withClient(testPgUrl("postgres"), (c) => c.query(`DROP ROLE IF EXISTS ${role}`));
  });
}

describe("application role on the metadata cluster", () => {
  it("fresh cluster: the role owns a new database, migrates it, and is no superuser", async () => {
    const role = `app_${suffix()}`;
    const database = `meta_${suffix()}`;
    const password = randomBytes(18).toString("base64url");
    dropRole(role, database);
    const result = await bootstrapAppRole({ superuserUrl: testPgUrl("postgres"), database, role, password });
    expect(result).toMatchObject({ createdRole: true, createdDatabase: true });
    const url = roleUrl(database, role, password);

    // The migration runner works with what it is given: extensions, triggers, PL/pgSQL included.
    const migrated = await migrate(url);
    expect(migrated.applied.length).toBeGreaterThan(0);
    await withClient(url, async (c) => {
      const me = await c.query("SELECT rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls FROM pg_roles WHERE rolname = current_user");
      expect(me.rows[0]).toEqual({ rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false });
      const ext = await c.query("SELECT extname FROM pg_extension WHERE extname IN ('pgcrypto', 'pg_trgm') ORDER BY 1");
      expect(ext.rows.map((r) => r.extname)).toEqual(["pg_trgm", "pgcrypto"]);
    });
    // What the attack of issue 12 did with the superuser: read password hashes, run programs, files.
    expect(await sqlState(url, "SELECT rolpassword FROM pg_authid")).toBe("42501");
    expect(await sqlState(url, "COPY (SELECT 1) TO PROGRAM 'true'")).toBe("42501");
    expect(await sqlState(url, "SELECT pg_read_file('postgresql.conf')")).toBe("42501");
    expect(await sqlState(url, `CREATE ROLE r_${suffix()} SUPERUSER`)).toBe("42501");
    expect(await sqlState(url, "ALTER SYSTEM SET work_mem = '1GB'")).toBe("42501");
    expect(await sqlState(url, "CREATE DATABASE should_not_exist")).toBe("42501");
  });

  it("old scheme: a database migrated and owned by the superuser is handed over and keeps working", async () => {
    const db = await createEmptyDatabase("oldmeta");
    cleanup.push(() => db.drop());
    await migrate(db.url);
    await withClient(db.url, (c) => c.query("INSERT INTO users (email) VALUES ('before@example.com')"));
    const role = `app_${suffix()}`;
    const other = `other_${suffix()}`;
    const password = randomBytes(18).toString("base64url");
    dropRole(role);
    dropRole(other);
    await withClient(testPgUrl("postgres"), (c) => c.query(`CREATE ROLE ${other} LOGIN PASSWORD 'other-password-123'`));

    // Before: a second role on the cluster (the demo's target role, say) may open the database.
    expect(await sqlState(roleUrl(db.name, other, "other-password-123"), "SELECT 1")).toBe("ok");

    const result = await bootstrapAppRole({ superuserUrl: testPgUrl("postgres"), database: db.name, role, password });
    expect(result.createdDatabase).toBe(false);
    expect(result.reassigned).toBeGreaterThan(10);
    const url = roleUrl(db.name, role, password);
    await withClient(url, async (c) => {
      expect((await c.query("SELECT email FROM users")).rows).toEqual([{ email: "before@example.com" }]);
      await c.query("INSERT INTO users (email) VALUES ('after@example.com')");
      const foreign = await c.query(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r','S','v') AND pg_get_userbyid(c.relowner) <> current_user AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')",
      );
      expect(foreign.rows).toEqual([]);
    });
    // A later migration (DDL on tables created by the superuser) runs as the role.
    const dir = await mkdtemp(path.join(tmpdir(), "migrations-"));
    await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
    await mkdir(path.join(dir, "29991231000000_later"));
    await writeFile(path.join(dir, "29991231000000_later", "migration.sql"), "ALTER TABLE users ADD COLUMN later_column text;\nCREATE INDEX users_later ON users (later_column);\n");
    const later = await migrate(url, { migrationsDir: dir });
    expect(later.applied).toEqual(["29991231000000_later"]);
    // After: other roles cannot open the metadata database at all.
    expect(await sqlState(roleUrl(db.name, other, "other-password-123"), "SELECT 1")).toBe("42501");
    expect(await sqlState(url, "SELECT rolpassword FROM pg_authid")).toBe("42501");

    // A second run (every up.sh) rotates the password and changes nothing else.
    const rotated = randomBytes(18).toString("base64url");
    const again = await bootstrapAppRole({ superuserUrl: testPgUrl("postgres"), database: db.name, role, password: rotated });
    expect(again).toEqual({ createdRole: false, createdDatabase: false, reassigned: 0 });
    expect(await sqlState(url, "SELECT 1")).toBe("28P01");
    expect(await sqlState(roleUrl(db.name, role, rotated), "SELECT count(*) FROM users")).toBe("ok");
  });

  it("refuses to make the superuser itself the application role", async () => {
    const superuser = new URL(testPgUrl("postgres")).username;
    await expect(
      bootstrapAppRole({ superuserUrl: testPgUrl("postgres"), database: `x_${suffix()}`, role: superuser, password: randomBytes(18).toString("hex") }),
    ).rejects.toThrow(/superuser/);
  });
});
