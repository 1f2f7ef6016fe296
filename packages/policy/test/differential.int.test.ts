import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@portcullis/db/testing";
import { createPolicyChecker, type Catalog } from "../src/index.js";
import { CORPUS } from "./corpus.js";
import { createOracle, type OracleFinding } from "./support/oracle.js";
import { createPolicyDatabase } from "./support/chinook.js";
import { SCOPES, type ScopeName } from "./support/scopes.js";

// Every statement the checker allows under a scope that hides things runs against real PostgreSQL
// as the gateway would run it; the database's own counters and privileges say whether it wrote or
// touched anything hidden. The checker's opinion is not consulted after the verdict.
let db: TestDatabase;
let catalog: Catalog;
const checker = createPolicyChecker();

beforeAll(async () => {
  ({ db, catalog } = await createPolicyDatabase());
});
afterAll(() => db?.drop());

describe.each(["read", "custom"] as ScopeName[])("differential against PostgreSQL, %s scope", (scopeName) => {
  it("every allowed read writes nothing and touches no hidden object", async () => {
    const scope = SCOPES[scopeName];
    const oracle = await createOracle(db.url, scope, catalog);
    const findings: OracleFinding[] = [];
    let executed = 0;
    let succeeded = 0;
    try {
      const statements = new Set(CORPUS.map((c) => c.sql));
      for (const sql of statements) {
        const verdict = checker.check(sql, scope, catalog);
        if (!verdict.allowed) continue;
        // The read scope grants no write anywhere: everything it allows must be a read. The custom
        // scope may write playlist/genre; its writes are not what this suite is about.
        if (scopeName === "read") expect(verdict.readOnly, sql).toBe(true);
        else if (!verdict.readOnly) continue;
        executed++;
        const result = await oracle.run(sql);
        if (result.ok) succeeded++;
        if (result.finding) findings.push(result.finding);
      }
    } finally {
      await oracle.close();
    }
    console.info(`${scopeName}: ${executed} allowed statements executed, ${succeeded} ran without error`);
    expect(findings).toEqual([]);
    expect(executed).toBeGreaterThan(50);
    // Most allowed statements must really run: a checker that only allows broken SQL proves nothing.
    expect(succeeded / executed).toBeGreaterThan(0.8);
  });

  it("the oracle itself catches what the checker refuses (it is not blind)", async () => {
    const scope = SCOPES[scopeName];
    const oracle = await createOracle(db.url, scope, catalog);
    try {
      const attacks =
        scopeName === "read"
          ? ["SELECT * FROM employee", "SELECT email FROM customer", "SELECT * FROM employee_directory", "SELECT employee_count()", "SELECT * FROM note"]
          : ["SELECT * FROM customer", "SELECT unit_price FROM track", "SELECT bump_genre()"];
      for (const sql of attacks) {
        expect(checker.check(sql, scope, catalog).allowed, sql).toBe(false);
        const result = await oracle.run(sql);
        expect(result.finding, sql).toBeDefined();
      }
    } finally {
      await oracle.close();
    }
  });
});
