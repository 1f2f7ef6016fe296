import { describe, expect, test } from "vitest";
import { parseScope } from "@portcullis/policy/scope";
import { cleanScope, withApprovalOptions, type ScopeDoc } from "../src/features/links/scope-doc";

/**
 * The editor's draft goes through cleanScope on every edit: what it drops never reaches the save,
 * and what it keeps must still parse with the one scope schema.
 */
const base = (): ScopeDoc => ({ access: "read", tables: {}, limits: { maxRows: 1000, statementTimeoutMs: 15000 } });

describe("scope editor: approval and cost limits survive the editor's cleaning", () => {
  test("link approval, approval options, per-table approval on a writable table and cost limits are kept and parse", () => {
    const draft: ScopeDoc = {
      ...base(),
      approval: "destructive",
      approvalOptions: { selfApproval: true, expiresAfterMinutes: 30 },
      tables: { invoice: { access: "write", approval: "writes" }, track: { access: "admin", approval: "confirm" } },
      limits: { maxRows: 1000, statementTimeoutMs: 15000, maxEstimatedCost: 12_500.5, maxEstimatedRows: 50_000 },
    };
    const cleaned = cleanScope(draft);
    expect(cleaned).toEqual(draft);
    const parsed = parseScope(cleaned);
    expect(parsed.ok && parsed.scope).toEqual(draft);
  });

  test("approval on a table the link cannot write is dropped (the schema would refuse it), with the access that allowed it", () => {
    const cleaned = cleanScope({ ...base(), tables: { invoice: { access: "read", approval: "writes" }, artist: { approval: "confirm" }, genre: { access: "none", approval: "writes" } } });
    expect(cleaned.tables).toEqual({ genre: { access: "none" } });
    expect(parseScope(cleaned).ok).toBe(true);
    // The same document without cleaning is refused with the path the editor shows next to the field.
    const raw = parseScope({ access: "read", tables: { invoice: { access: "read", approval: "writes" } } });
    expect(raw.ok).toBe(false);
    if (!raw.ok) expect(raw.errors.map((e) => e.path)).toContain("tables.invoice.approval");
  });

  test("emptied cost limits leave the document (absent = no gate); options back at the defaults disappear", () => {
    const cleaned = cleanScope({ ...base(), limits: { maxRows: 10, statementTimeoutMs: 1000, maxEstimatedCost: Number.NaN, maxEstimatedRows: undefined } });
    expect(cleaned.limits).toEqual({ maxRows: 10, statementTimeoutMs: 1000 });
    const on = withApprovalOptions(base(), { selfApproval: true });
    expect(on.approvalOptions).toEqual({ selfApproval: true, expiresAfterMinutes: 60 });
    expect(withApprovalOptions(on, { selfApproval: false })).not.toHaveProperty("approvalOptions");
    expect(withApprovalOptions(base(), { expiresAfterMinutes: 5 }).approvalOptions).toEqual({ selfApproval: false, expiresAfterMinutes: 5 });
  });

  test("out-of-range values are refused by the schema at their own paths (shown next to their fields)", () => {
    const parsed = parseScope({ access: "write", approvalOptions: { expiresAfterMinutes: 0 }, limits: { maxEstimatedCost: -1, maxEstimatedRows: 1.5 } });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.errors.map((e) => e.path).sort()).toEqual(["approvalOptions.expiresAfterMinutes", "limits.maxEstimatedCost", "limits.maxEstimatedRows"]);
  });
});
