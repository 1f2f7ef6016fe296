import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TestDatabase } from "@portcullis/db/testing";
import { createPolicyChecker, type Catalog } from "../src/index.js";
import { generateStatements } from "./support/fuzz.js";
import { createOracle, type OracleFinding } from "./support/oracle.js";
import { createPolicyDatabase } from "./support/chinook.js";
import { SCOPES, type ScopeName } from "./support/scopes.js";

// The fuzz statements the checker allows are executed; PostgreSQL says whether any wrote or read a
// hidden object (see support/oracle.ts). Capped so the suite stays within seconds on two cores.
const STATEMENTS = generateStatements(10_000, 1234);
const MAX_EXECUTED = 1200;

let db: TestDatabase;
let catalog: Catalog;
beforeAll(async () => {
  ({ db, catalog } = await createPolicyDatabase());
});
afterAll(() => db?.drop());

describe.each(["read", "custom"] as ScopeName[])("fuzz against PostgreSQL, %s scope", (scopeName) => {
  it("no allowed statement writes or touches a hidden object", async () => {
    const scope = SCOPES[scopeName];
    const checker = createPolicyChecker();
    const oracle = await createOracle(db.url, scope, catalog);
    const findings: OracleFinding[] = [];
    let executed = 0;
    try {
      for (const sql of STATEMENTS) {
        if (executed >= MAX_EXECUTED) break;
        const verdict = checker.check(sql, scope, catalog);
        if (!verdict.allowed || !verdict.readOnly) continue;
        executed++;
        const result = await oracle.run(sql);
        if (result.finding) findings.push(result.finding);
      }
    } finally {
      await oracle.close();
    }
    console.info(`fuzz ${scopeName}: ${executed} allowed statements executed`);
    expect(findings).toEqual([]);
    expect(executed).toBeGreaterThan(100);
  }, 180_000);
});
