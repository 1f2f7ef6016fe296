import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@portcullis/db/testing";
import { createPolicyChecker, type Catalog } from "../src/index.js";
import { CORPUS } from "./corpus.js";
import { createPolicyDatabase } from "./support/chinook.js";
import { SCOPES } from "./support/scopes.js";

// The checker's view of code and of odd text, held against what PostgreSQL itself does with them.
let db: TestDatabase;
let catalog: Catalog;
let client: pg.Client;
const checker = createPolicyChecker({ cacheSize: 0 });

beforeAll(async () => {
  ({ db, catalog } = await createPolicyDatabase());
  client = new pg.Client({ connectionString: db.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await db?.drop();
});

/** Runs `sql` in a transaction that is always rolled back; the error code when PostgreSQL refuses it. */
async function attempt(sql: string): Promise<string | undefined> {
  await client.query("BEGIN");
  try {
    await client.query(sql);
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code ?? "error";
  } finally {
    await client.query("ROLLBACK");
  }
}

const creates = (sql: string) => /^CREATE (FUNCTION|PROCEDURE)/i.test(sql);

describe("function bodies on a full (admin) link", () => {
  it("the code the checker allows is code PostgreSQL accepts (the checker does not only pass broken bodies)", async () => {
    const allowed = CORPUS.filter((c) => c.scope === "full" && c.expect === "ok" && (creates(c.sql) || c.sql.startsWith("DO ")));
    expect(allowed.length).toBeGreaterThanOrEqual(10);
    for (const c of allowed) {
      expect(checker.check(c.sql, SCOPES.full, catalog).allowed, c.sql).toBe(true);
      expect(await attempt(c.sql), c.sql).toBeUndefined();
    }
  });

  it("the escapes it refuses inside bodies are real: PostgreSQL creates every one of those functions", async () => {
    const escapes = CORPUS.filter((c) => c.scope === "full" && creates(c.sql) && ["dynamic_sql", "copy_program", "dangerous_function", "load_library"].includes(c.expect));
    expect(escapes.length).toBeGreaterThanOrEqual(12);
    const refusedByPostgres: string[] = [];
    for (const c of escapes) {
      const verdict = checker.check(c.sql, SCOPES.full, catalog);
      expect(verdict.ruleId, c.sql).toBe(c.expect);
      expect(verdict.reason, c.sql).toMatch(/in the body of|EXECUTE of a string/);
      if (await attempt(c.sql)) refusedByPostgres.push(c.sql);
    }
    // Every one would have been stored, ready to run as whoever calls it.
    expect(refusedByPostgres).toEqual([]);
  });
});

describe("control characters: the checker and PostgreSQL read the same text", () => {
  // Each template with the value (or column name) the statement yields when read as the checker's
  // grammar reads it: a control character between tokens is white space, inside quotes it is data.
  const templates: [(c: string) => string, (c: string) => string][] = [
    [(c) => `SELECT 1${c}+ 2`, () => "3"],
    [(c) => `SELECT${c}1`, () => "1"],
    [(c) => `SELECT '${c}'::text`, (c) => c],
    [(c) => `SELECT 1 AS "a${c}b"`, (c) => `column a${c}b`],
    [(c) => `SELECT 1 -- note${c}x\n+ 2`, () => "3"],
    [(c) => `SELECT /* ${c} */ 1`, () => "1"],
    [(c) => `SELECT $q$${c}$q$`, (c) => c],
  ];
  it("whatever the checker allows, PostgreSQL reads as the checker does, or refuses as a syntax error", async () => {
    const misread: string[] = [];
    const refusedByPostgres: string[] = [];
    for (let code = 1; code < 0x20; code++) {
      const c = String.fromCharCode(code);
      for (const [template, expected] of templates) {
        const sql = template(c);
        if (!checker.check(sql, SCOPES.full, catalog).allowed) continue;
        await client.query("BEGIN");
        try {
          const result = await client.query({ text: sql, rowMode: "array" });
          const want = expected(c);
          const got = want.startsWith("column ") ? `column ${result.fields[0]?.name}` : String(result.rows[0]?.[0]);
          if (got !== want) misread.push(`${JSON.stringify(sql)}: PostgreSQL read ${JSON.stringify(got)}`);
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code === "42601") refusedByPostgres.push(sql);
          else misread.push(`${JSON.stringify(sql)}: PostgreSQL failed with ${code}`);
        } finally {
          await client.query("ROLLBACK");
        }
      }
    }
    expect(misread).toEqual([]);
    // The one difference: the checker's grammar (PostgreSQL 18) treats vertical tab as white space,
    // older servers call it a syntax error. Harmless: the server refuses what the checker let through.
    for (const sql of refusedByPostgres) expect(sql, JSON.stringify(sql)).toContain("\u000b");
  });

  it("a NUL byte is refused before parsing (the parser and the wire protocol stop at it)", () => {
    for (const sql of ["SELECT 1\u0000; DROP TABLE album", "SELECT '\u0000'", "\u0000"]) {
      const verdict = checker.check(sql, SCOPES.full, catalog);
      expect(verdict.ruleId, JSON.stringify(sql)).toBe("control_character");
    }
  });
});
