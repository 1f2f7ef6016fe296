import { describe, expect, test } from "vitest";
import { affectedWords, diffPreview, otherTablesWords, parsePreview, showValue, timeLeft, type WritePreview } from "../src/features/approvals/preview-diff";

const base = { plan: null, notes: [], durationMs: 3 };

describe("the preview as a diff", () => {
  test("an UPDATE matched by key: changed cells carry old and new, unchanged cells one value, order by the before rows", () => {
    const preview: WritePreview = {
      ...base, command: "update", affected: 2, table: "public.invoice", columns: ["invoice_id", "total", "billing_city"], keyColumns: ["invoice_id"],
      before: [[5, "3.96", "Oslo"], [7, "1.98", "Paris"]],
      // The re-read comes back in another order: pairing must follow the key, not the position.
      after: [[7, "2.18", "Paris"], [5, "4.36", "Oslo"]],
    };
    const diff = diffPreview(preview);
    expect(diff.matchedBy).toBe("key");
    expect(diff.rows.map((r) => [r.kind, r.key])).toEqual([["updated", "invoice_id = 5"], ["updated", "invoice_id = 7"]]);
    expect(diff.rows[0]!.cells).toEqual([
      { state: "same", before: "5", after: "5" },
      { state: "changed", before: "3.96", after: "4.36" },
      { state: "same", before: "Oslo", after: "Oslo" },
    ]);
  });

  test("a DELETE: every before row is a deleted row; masked values stay exactly as the gateway sent them", () => {
    const preview: WritePreview = { ...base, command: "DELETE", affected: 340, table: "public.invoice", columns: ["invoice_id", "email"], keyColumns: ["invoice_id"], before: [[1, "l***@example.com"], [2, null]], after: [] };
    const diff = diffPreview(preview);
    expect(diff.rows.map((r) => r.kind)).toEqual(["deleted", "deleted"]);
    expect(diff.rows[0]!.cells[1]).toEqual({ state: "same", before: "l***@example.com" });
    expect(diff.rows[1]!.cells[1]).toEqual({ state: "same", before: "NULL" });
    expect(affectedWords(preview)).toBe("would delete 340 rows from public.invoice");
  });

  test("an INSERT: after rows are inserted rows", () => {
    const preview: WritePreview = { ...base, command: "insert", affected: 1, table: "public.artist", columns: ["artist_id", "name"], keyColumns: ["artist_id"], before: [], after: [[276, "New"]] };
    expect(diffPreview(preview).rows).toEqual([{ kind: "inserted", key: "artist_id = 276", cells: [{ state: "same", after: "276" }, { state: "same", after: "New" }] }]);
    expect(affectedWords(preview)).toBe("would insert 1 row into public.artist");
  });

  test("a MERGE matched by key: rows only before are deleted, only after inserted, both are updates (or unchanged)", () => {
    const preview: WritePreview = {
      ...base, command: "merge", affected: 3, table: "public.t", columns: ["id", "v"], keyColumns: ["id"],
      before: [[1, "a"], [2, "b"], [3, "c"]], after: [[1, "a2"], [3, "c"], [4, "d"]],
    };
    expect(diffPreview(preview).rows.map((r) => `${r.kind}:${r.key}`)).toEqual(["updated:id = 1", "deleted:id = 2", "unchanged:id = 3", "inserted:id = 4"]);
  });

  test("without a visible key (hidden or masked primary key), an UPDATE is paired by position and says so", () => {
    const preview: WritePreview = { ...base, command: "update", affected: 2, table: "public.t", columns: ["v"], keyColumns: [], before: [["x"], ["y"]], after: [["x2"], ["y"]] };
    const diff = diffPreview(preview);
    expect(diff.matchedBy).toBe("position");
    expect(diff.rows.map((r) => r.kind)).toEqual(["updated", "unchanged"]);
  });

  test("a key column missing from the visible columns is not used to match (it would pair every row as one)", () => {
    const preview: WritePreview = { ...base, command: "update", affected: 1, table: "public.t", columns: ["v"], keyColumns: ["id"], before: [["x"]], after: [["z"]] };
    expect(diffPreview(preview).matchedBy).toBe("position");
  });

  test("the count in words for each command, and an unknown count", () => {
    const p = (command: string, affected: number | null) => affectedWords({ command, affected, table: "public.invoice" });
    expect(p("update", 1)).toBe("would update 1 row in public.invoice");
    expect(p("update", 1200)).toBe("would update 1,200 rows in public.invoice");
    expect(p("truncate", null)).toBe("would remove every row of public.invoice (TRUNCATE)");
    expect(p("ddl", null)).toBe("would change the structure of public.invoice (DDL)");
    expect(p("delete", null)).toBe("would delete an unknown number of rows in public.invoice");
  });

  test("a stored preview that does not parse is no preview, not a half-rendered one", () => {
    expect(parsePreview({ command: "delete" })).toBeNull();
    expect(parsePreview(null)).toBeNull();
    // The gateway's label for code whose writes cannot be listed is longer than a command tag: still a preview.
    const code = parsePreview({ command: "runs code (function call / DO / CALL) whose writes cannot be listed", affected: null, table: null, columns: [], keyColumns: [], before: [], after: [], plan: null, notes: [], functions: ["public.cleanup"] });
    expect(code?.functions).toEqual(["public.cleanup"]);
    expect(affectedWords(code!)).toBe("runs code (function call / DO / CALL) whose writes cannot be listed");
    expect(parsePreview({ command: "delete", affected: 1, table: null, columns: ["a"], keyColumns: [], before: [[1]], after: [], plan: null, notes: [] })).not.toBeNull();
  });

  test("tables a rule or trigger also changes are named for the approver; the target itself is not repeated", () => {
    const stored = parsePreview({
      command: "INSERT", affected: 1, table: "public.audit_rule", columns: ["id"], keyColumns: ["id"], before: [], after: [[21]], plan: null, notes: [],
      tablesChanged: [
        { table: "public.audit_rule", inserted: 1, updated: 0, deleted: 0 },
        { table: "public.invoice_line", inserted: 0, updated: 0, deleted: 21 },
        { table: "another table", inserted: 0, updated: 2, deleted: 0 },
      ],
    });
    expect(otherTablesWords(stored!)).toEqual(["public.invoice_line: 21 rows deleted", "another table: 2 rows updated"]);
    expect(otherTablesWords({ table: "public.t", tablesChanged: undefined })).toEqual([]);
  });

  test("values in words: objects as JSON, NULL, and time left", () => {
    expect(showValue({ a: 1 })).toBe('{"a":1}');
    expect(showValue(undefined)).toBe("NULL");
    const now = Date.parse("2026-12-07T10:00:00Z");
    expect(timeLeft("2026-12-07T10:12:30Z", now)).toBe("13 min left");
    expect(timeLeft("2026-12-07T12:05:00Z", now)).toBe("2 h 5 min left");
    expect(timeLeft("2026-12-07T09:59:59Z", now)).toBe("expired");
  });
});

describe("the audit chain in words", async () => {
  const { chainStep, resultWords } = await import("../src/features/approvals/request-card");
  test("request, decision, execution, and refused attempts named by their rule", () => {
    expect(chainStep({ kind: "tool_call", tool: "execute_sql", verdict: "blocked", ruleId: "approval_required" })).toBe("request");
    expect(chainStep({ kind: "tool_call", tool: "execute_sql", verdict: "blocked", ruleId: "confirmation_required" })).toBe("request");
    expect(chainStep({ kind: "config_change", tool: null, verdict: "allowed", ruleId: null })).toBe("decision");
    expect(chainStep({ kind: "tool_call", tool: "execute_sql", verdict: "allowed", ruleId: null })).toBe("execution");
    expect(chainStep({ kind: "tool_call", tool: "execute_sql", verdict: "blocked", ruleId: "write_request_used" })).toBe("refused run (write_request_used)");
    expect(chainStep({ kind: "tool_call", tool: "execute_sql", verdict: "error", ruleId: null })).toBe("failed execution");
  });
  test("the execution's result in words", () => {
    expect(resultWords({ affected: 18, rowCount: 0 })).toBe("18 rows affected");
    expect(resultWords({ affected: 1 })).toBe("1 row affected");
    expect(resultWords(null)).toBeNull();
    expect(resultWords({ rows: [] })).toBeNull();
  });
});
