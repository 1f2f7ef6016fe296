import { beforeAll, describe, expect, it } from "vitest";
import { createPolicyChecker, policyReady } from "../src/index.js";
import { CORPUS } from "./corpus.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";
import { SCOPES } from "./support/scopes.js";

// No body launders a statement: whatever the full (admin) link refuses at the top level, it refuses
// inside a DO block, a PL/pgSQL function and an SQL function too (the corpus is the attack list).
const checker = createPolicyChecker({ cacheSize: 0 });
beforeAll(() => policyReady());

const refusedAtTop = [...new Set(CORPUS.filter((c) => c.scope === "full" && c.expect !== "ok" && !c.sql.includes("$w$") && !c.sql.includes("\u0000")).map((c) => c.sql))];

describe("bodies do not launder refused statements", () => {
  it("has escapes to wrap", () => expect(refusedAtTop.length).toBeGreaterThanOrEqual(60));

  it.each(refusedAtTop.map((sql) => [sql.length > 100 ? `${sql.slice(0, 97)}...` : sql, sql] as const))("%s", (_label, sql) => {
    const top = checker.check(sql, SCOPES.full, chinookCatalog);
    expect(top.allowed).toBe(false);
    const body = sql.replace(/;\s*$/, "");
    const wrappers = [
      `DO $w$ BEGIN ${body}; END $w$`,
      `CREATE FUNCTION w() RETURNS void LANGUAGE plpgsql AS $w$ BEGIN ${body}; END $w$`,
      `CREATE PROCEDURE w() LANGUAGE plpgsql AS $w$ BEGIN IF true THEN ${body}; END IF; EXCEPTION WHEN others THEN NULL; END $w$`,
      `CREATE FUNCTION w() RETURNS void LANGUAGE sql AS $w$ ${body} $w$`,
      `DO $w$ BEGIN CREATE FUNCTION inner_w() RETURNS void LANGUAGE sql AS $i$ ${body} $i$; END $w$`,
    ];
    for (const wrapped of wrappers) {
      const verdict = checker.check(wrapped, SCOPES.full, chinookCatalog);
      expect(verdict.allowed, wrapped).toBe(false);
    }
    // An SQL body is the same statements: the same rule decides.
    const sqlFunction = checker.check(wrappers[3]!, SCOPES.full, chinookCatalog);
    if (sqlFunction.ruleId !== "code_creation") expect(sqlFunction.ruleId, wrappers[3]).toBe(top.ruleId);
  });
});
