import { describe, expect, it } from "vitest";
import { createPolicyChecker, RULES } from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";
import { SCOPES } from "./support/scopes.js";

describe("verdicts", () => {
  const checker = createPolicyChecker();

  it("describes an allowed statement: classes, read-only flag, visible tables, fingerprint", () => {
    const v = checker.check("SELECT a.title FROM album a JOIN artist USING (artist_id) WHERE a.album_id = 1", SCOPES.read, chinookCatalog);
    expect(v).toMatchObject({ allowed: true, statementCount: 1, classes: ["read"], readOnly: true, tables: ["public.album", "public.artist"] });
    expect(v.fingerprint).toMatch(/^[0-9a-f]{16}$/);
    const other = checker.check("select a.title  from album a join artist using (artist_id) where a.album_id = 42 -- other", SCOPES.read, chinookCatalog);
    expect(other.fingerprint).toBe(v.fingerprint);
    expect(checker.check("SELECT 1", SCOPES.read, chinookCatalog).fingerprint).not.toBe(v.fingerprint);
  });

  it("classes every statement of a multi-statement call", () => {
    const v = checker.check("SELECT 1; UPDATE invoice SET total = total WHERE false; CREATE TABLE x (id int)", SCOPES.full, chinookCatalog);
    expect(v).toMatchObject({ allowed: true, statementCount: 3, classes: ["read", "write", "ddl"], readOnly: false });
  });

  it("explains a refusal for an AI: statement number, object, needed permission, what the link allows, rule id", () => {
    const v = checker.check("SELECT 1; UPDATE album SET title = 'x'", SCOPES.write, chinookCatalog);
    expect(v).toMatchObject({ allowed: false, ruleId: "write_not_permitted", statementIndex: 2, statementCount: 2 });
    expect(v).toMatchObject({ object: "public.album", needs: "write" });
    expect(v.reason).toBe(
      "Statement 2: UPDATE on public.album is not allowed: this link can only read it. It would need write access on public.album. " +
        "This link allows: read by default in public; write on public.invoice, public.invoice_line, public.customer, public.ticket_seq. [rule write_not_permitted]",
    );
  });

  it("names the object and the needed access as data for the rules that have them, and nothing it was not told", () => {
    expect(checker.check("DROP TABLE album", SCOPES.write, chinookCatalog)).toMatchObject({ ruleId: "ddl_not_permitted", needs: "admin" });
    expect(checker.check("ALTER TABLE invoice ADD COLUMN x int", SCOPES.write, chinookCatalog)).toMatchObject({ ruleId: "ddl_not_permitted", object: "public.invoice", needs: "admin" });
    expect(checker.check("SELECT * FROM no_such_table", SCOPES.read, chinookCatalog)).toMatchObject({ ruleId: "undefined_table", object: "no_such_table" });
    expect(checker.check("SELECT nextval('invoice_invoice_id_seq')", SCOPES.read, chinookCatalog)).toMatchObject({ allowed: false });
    const syntax = checker.check("SELECT * FRM album", SCOPES.read, chinookCatalog);
    expect(syntax.object).toBeUndefined();
    expect(syntax.needs).toBeUndefined();
  });

  it("reports PostgreSQL's parser message and position", () => {
    const v = checker.check("SELECT * FRM album", SCOPES.read, chinookCatalog);
    expect(v).toMatchObject({ allowed: false, ruleId: "syntax_error", position: 9 });
    expect(v.reason).toMatch(/syntax error at or near "FRM" \(at character 10\)/);
  });

  it("caches verdicts, bounded, keyed by scope content and catalog version", () => {
    const small = createPolicyChecker({ cacheSize: 2 });
    const a = small.check("SELECT 1", SCOPES.read, chinookCatalog);
    expect(small.check("SELECT 1", SCOPES.read, chinookCatalog)).toBe(a);
    expect(small.cacheStats.hits).toBe(1);
    expect(small.check("SELECT 1", { ...SCOPES.read }, chinookCatalog)).toBe(a);
    expect(small.check("SELECT 1", SCOPES.read, { ...chinookCatalog, version: "other" })).not.toBe(a);
    small.check("SELECT 2", SCOPES.read, chinookCatalog);
    small.check("SELECT 3", SCOPES.read, chinookCatalog);
    expect(small.cacheStats.size).toBe(2);
    expect(Object.isFrozen(a)).toBe(true);
  });

  it("publishes a description for every rule", () => {
    for (const [id, text] of Object.entries(RULES)) {
      expect(id).toMatch(/^[a-z_]+$/);
      expect(text.length).toBeGreaterThan(10);
    }
  });
});
