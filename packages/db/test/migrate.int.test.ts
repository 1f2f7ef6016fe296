import { cp, mkdir, mkdtemp, readdir, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { DEFAULT_MIGRATIONS_DIR, migrate, MigrationError } from "../src/migrate/index.js";
import { createEmptyDatabase, type TestDatabase } from "../src/testing/index.js";

const cleanup: TestDatabase[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((db) => db.drop()));
});

async function freshDb() {
  const db = await createEmptyDatabase("migr");
  cleanup.push(db);
  return db;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function copyMigrations(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "migrations-"));
  await cp(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  return dir;
}

describe("migration runner", () => {
  it("applies every migration once and records it in Prisma's format", async () => {
    const db = await freshDb();
    const first = await migrate(db.url);
    expect(first.applied.length).toBeGreaterThan(0);
    const second = await migrate(db.url);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(first.applied);
    const rows = await query<{ migration_name: string; checksum: string; finished_at: Date | null; applied_steps_count: number }>(
      db.url,
      `SELECT migration_name, checksum, finished_at, applied_steps_count FROM "_prisma_migrations" ORDER BY migration_name`,
    );
    expect(rows.map((r) => r.migration_name)).toEqual(first.applied);
    for (const row of rows) {
      expect(row.checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it("is safe when several runners start at once", async () => {
    const db = await freshDb();
    const results = await Promise.all([migrate(db.url), migrate(db.url), migrate(db.url), migrate(db.url)]);
    const appliedCounts = results.map((r) => r.applied.length).sort();
    // Exactly one runner applied the migrations; the others found them applied.
    expect(appliedCounts.filter((n) => n > 0)).toHaveLength(1);
    const [row] = await query<{ count: string }>(db.url, `SELECT count(*) FROM "_prisma_migrations"`);
    expect(Number(row?.count)).toBe(results.find((r) => r.applied.length)!.applied.length);
  });

  it("refuses a migration edited after it was applied", async () => {
    const db = await freshDb();
    const dir = await copyMigrations();
    await migrate(db.url, { migrationsDir: dir });
    const names = (await readdir(dir)).sort();
    const file = path.join(dir, names[0]!, "migration.sql");
    await writeFile(file, `${await readFile(file, "utf8")}\n-- edited\n`);
    await expect(migrate(db.url, { migrationsDir: dir })).rejects.toThrow(/edited after it was applied/);
  });

  it("rolls a failing migration back entirely and names it", async () => {
    const db = await freshDb();
    const dir = await copyMigrations();
    const bad = path.join(dir, "29991231000000_broken");
    await mkdir(bad);
    await writeFile(path.join(bad, "migration.sql"), `CREATE TABLE half_done (id int);\nSELECT no_such_function();\n`);
    const error = await migrate(db.url, { migrationsDir: dir }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MigrationError);
    expect((error as MigrationError).migration).toBe("29991231000000_broken");
    expect((error as Error).message).toMatch(/no_such_function/);
    const tables = await query(db.url, `SELECT 1 FROM pg_tables WHERE tablename = 'half_done'`);
    expect(tables).toHaveLength(0);
    const recorded = await query(db.url, `SELECT 1 FROM "_prisma_migrations" WHERE migration_name = '29991231000000_broken'`);
    expect(recorded).toHaveLength(0);
  });
});
