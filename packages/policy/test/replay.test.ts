import { describe, expect, it } from "vitest";
import { createPolicyChecker, parseScope, replayScope, type ReplayStatement, type Scope } from "../src/index.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";

function scope(doc: unknown): Scope {
  const parsed = parseScope(doc);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

const current = scope({ access: "read", tables: { invoice: { access: "write" }, employee: { access: "none" } } });
// The draft hides album, grants writes on genre, puts invoice under approval, and keeps employee hidden.
const draft = scope({
  access: "read",
  tables: { invoice: { access: "write", approval: "writes" }, employee: { access: "none" }, album: { access: "none" }, genre: { access: "write" } },
});

const at = (day: number) => `2026-12-0${day}T10:00:00.000Z`;
const STATEMENTS: ReplayStatement[] = [
  { sql: "SELECT title FROM album WHERE album_id = 1", calls: 40, lastSeen: at(1) },
  { sql: "SELECT a.title, t.name FROM album a JOIN track t USING (album_id)", calls: 7, lastSeen: at(2) },
  { sql: "SELECT count(*) FROM album", calls: 3, lastSeen: at(3) },
  { sql: "UPDATE genre SET name = 'Rock' WHERE genre_id = 1", calls: 5, lastSeen: at(4) },
  { sql: "INSERT INTO genre (genre_id, name) VALUES (99, 'x')", calls: 2, lastSeen: at(4) },
  { sql: "UPDATE invoice SET total = 1 WHERE invoice_id = 1", calls: 11, lastSeen: at(5) },
  { sql: "DELETE FROM invoice WHERE invoice_id = 2", calls: 1, lastSeen: at(5) },
  { sql: "UPDATE album SET title = 'x' WHERE album_id = 1", calls: 4, lastSeen: at(6) },
  { sql: "SELECT name FROM track WHERE track_id = 1", calls: 100, lastSeen: at(6) },
  { sql: "SELECT * FROM employee", calls: 9, lastSeen: at(6) },
  // The same text again, later: one statement, calls added.
  { sql: "SELECT title FROM album WHERE album_id = 1", calls: 2, lastSeen: at(7) },
];

describe("replayScope", () => {
  it("groups the calls whose outcome the draft changes, by effect", () => {
    const checker = createPolicyChecker({ cacheSize: 100 });
    const report = replayScope({ checker, catalog: chinookCatalog, current, draft, statements: STATEMENTS });
    expect(report.statements).toBe(10);
    expect(report.calls).toBe(184);
    // Distinct texts are checked once under each scope.
    expect(checker.cacheStats.misses).toBe(20);

    // Hiding album: its reads become blocked as a missing table, most-called example first.
    expect(report.becameBlocked).toHaveLength(1);
    const blocked = report.becameBlocked[0]!;
    expect(blocked).toMatchObject({ ruleId: "undefined_table", calls: 52, statements: 3 });
    expect(blocked.examples.map((e) => [e.sql, e.calls])).toEqual([
      ["SELECT title FROM album WHERE album_id = 1", 42],
      ["SELECT a.title, t.name FROM album a JOIN track t USING (album_id)", 7],
      ["SELECT count(*) FROM album", 3],
    ]);
    expect(blocked.examples[0]!.lastSeen).toBe(at(7));
    expect(blocked.examples[0]!.reason).toMatch(/album/);

    // Granting writes on genre: its writes become allowed; grouped by the current scope's rule.
    expect(report.becameAllowed).toEqual([
      expect.objectContaining({ ruleId: "write_not_permitted", calls: 7, statements: 2 }),
    ]);

    // Writing album: refused before (read only), refused now for another reason (it is gone).
    expect(report.ruleChanged).toEqual([
      expect.objectContaining({ ruleId: "write_not_permitted → undefined_table", calls: 4, statements: 1 }),
    ]);

    // Approval on invoice: its writes still run, but after a decision.
    expect(report.approvalChanged).toHaveLength(1);
    expect(report.approvalChanged[0]).toMatchObject({ ruleId: "none → writes", calls: 12, statements: 2 });
    expect(report.approvalChanged[0]!.examples[0]!.reason).toMatch(/public\.invoice requires a lead's approval/);

    // track reads (100) and the employee refusal (9, same rule both times) did not change.
    expect(report.unchanged).toBe(109);
    expect(report.durationMs).toBeGreaterThanOrEqual(0);
  });

  it("reports nothing changed for the same scope, and an approval removed as 'writes → none'", () => {
    const same = replayScope({ checker: createPolicyChecker({ cacheSize: 0 }), catalog: chinookCatalog, current, draft: current, statements: STATEMENTS });
    expect([same.becameBlocked, same.becameAllowed, same.ruleChanged, same.approvalChanged]).toEqual([[], [], [], []]);
    expect(same.unchanged).toBe(same.calls);
    const back = replayScope({ checker: createPolicyChecker({ cacheSize: 0 }), catalog: chinookCatalog, current: draft, draft: current, statements: STATEMENTS });
    expect(back.approvalChanged).toEqual([expect.objectContaining({ ruleId: "writes → none", calls: 12 })]);
    expect(back.becameAllowed).toEqual([expect.objectContaining({ ruleId: "undefined_table", calls: 52 })]);
    expect(back.becameBlocked).toEqual([expect.objectContaining({ ruleId: "write_not_permitted", calls: 7 })]);
  });

  it("keeps at most five examples, the most called", () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ sql: `SELECT title FROM album WHERE album_id = ${i}`, calls: i + 1, lastSeen: at(1) }));
    const report = replayScope({ checker: createPolicyChecker({ cacheSize: 0 }), catalog: chinookCatalog, current, draft, statements: many });
    expect(report.becameBlocked[0]!.statements).toBe(12);
    expect(report.becameBlocked[0]!.examples.map((e) => e.calls)).toEqual([12, 11, 10, 9, 8]);
  });

  it("refuses malformed input at the boundary", () => {
    const bad = [{ sql: 42, calls: 1, lastSeen: at(1) }] as unknown as ReplayStatement[];
    expect(() => replayScope({ checker: createPolicyChecker({ cacheSize: 0 }), catalog: chinookCatalog, current, draft, statements: bad })).toThrow();
  });
});
