import { describe, expect, it } from "vitest";
import { createPolicyChecker } from "../src/index.js";
import { CORPUS } from "./corpus.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";
import { SCOPES } from "./support/scopes.js";

/**
 * Approvals decide from verdict.writes alone, so a statement that changes anything and leaves no
 * effect would skip its approval. Over every allowed statement of the attack corpus: each write or
 * DDL statement has an effect, each read has none but the opaque effect of a user function it calls.
 */
describe("verdict.writes over the attack corpus", () => {
  const checker = createPolicyChecker({ cacheSize: 0 });
  const allowed = CORPUS.filter((c) => c.expect === "ok");

  it("every write or DDL statement leaves an effect; reads leave none", () => {
    const missing: string[] = [];
    const extra: string[] = [];
    let writes = 0;
    for (const c of allowed) {
      const v = checker.check(c.sql, SCOPES[c.scope], chinookCatalog);
      if (!v.allowed) continue;
      for (const [i, cls] of v.classes.entries()) {
        const effects = v.writes.filter((w) => w.statementIndex === i + 1);
        // A row lock (FOR UPDATE/SHARE, or EXPLAIN of one) is classed with writes but changes nothing.
        const rowLockOnly = cls === "write" && /\bFOR\s+(NO\s+KEY\s+)?(UPDATE|SHARE|KEY\s+SHARE)\b/i.test(c.sql) && !/\b(INSERT|UPDATE|DELETE|MERGE)\b\s/i.test(c.sql.replace(/FOR\s+(NO\s+KEY\s+)?UPDATE/gi, ""));
        if ((cls === "write" || cls === "ddl") && effects.length === 0 && !rowLockOnly) missing.push(`${c.scope}: ${c.sql}`);
        // A read may run a user function the catalog cannot prove read-only: that is an opaque effect, naming it.
        if (cls === "read" && effects.some((e) => !e.opaque || !e.code?.length)) extra.push(`${c.scope}: ${c.sql}`);
        if (effects.length > 0) writes++;
      }
    }
    expect(missing).toEqual([]);
    expect(extra).toEqual([]);
    // The corpus holds enough allowed writes for this to mean something.
    expect(writes).toBeGreaterThan(50);
  });

  it("verdicts keep their effects in the cache, frozen", () => {
    const cached = createPolicyChecker({ cacheSize: 10 });
    const sql = "DELETE FROM invoice_line WHERE invoice_line_id = 1";
    const first = cached.check(sql, SCOPES.write, chinookCatalog);
    const again = cached.check(sql, SCOPES.write, chinookCatalog);
    expect(again).toBe(first);
    expect(first.writes).toEqual([{ statementIndex: 1, table: "public.invoice_line", command: "delete", destructive: true }]);
    expect(Object.isFrozen(first.writes)).toBe(true);
    expect(Object.isFrozen(first.writes[0])).toBe(true);
    expect(cached.check("SELECT 1", SCOPES.write, chinookCatalog).writes).toEqual([]);
  });

  it("a refused call carries the effects found before the refusal", () => {
    const v = checker.check("DELETE FROM invoice_line WHERE invoice_line_id = 1; UPDATE album SET title = 'x'", SCOPES.write, chinookCatalog);
    expect(v).toMatchObject({ allowed: false, ruleId: "write_not_permitted", statementIndex: 2 });
    expect(v.writes.map((w) => [w.statementIndex, w.table, w.command])).toEqual([[1, "public.invoice_line", "delete"]]);
  });
});
