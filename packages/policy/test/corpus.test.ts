import { describe, expect, it } from "vitest";
import { createPolicyChecker, RULES } from "../src/index.js";
import { CORPUS } from "./corpus.js";
import { chinookCatalog } from "./fixtures/catalog-fixture.js";
import { SCOPES } from "./support/scopes.js";

const checker = createPolicyChecker({ cacheSize: 0 });
const kindOf: Record<string, string> = {
  read: "read-only (hides)",
  open: "read-only preset",
  write: "read-write",
  full: "full",
  custom: "custom",
  adminHiding: "admin (hides)",
  governed: "governed (row filters, masks)",
  governedRead: "governed, read-only",
};

describe("attack corpus", () => {
  it("has at least 400 cases, roughly half allowed and half refused, over every scope kind", () => {
    const counts: Record<string, { allow: number; block: number }> = {};
    for (const c of CORPUS) {
      const k = kindOf[c.scope]!;
      counts[k] ??= { allow: 0, block: 0 };
      counts[k][c.expect === "ok" ? "allow" : "block"]++;
    }
    const allowed = CORPUS.filter((c) => c.expect === "ok").length;
    console.info(`corpus: ${CORPUS.length} cases, ${allowed} allowed, ${CORPUS.length - allowed} refused`, counts);
    expect(CORPUS.length).toBeGreaterThanOrEqual(400);
    expect(allowed / CORPUS.length).toBeGreaterThan(0.3);
    expect(allowed / CORPUS.length).toBeLessThan(0.7);
    for (const c of CORPUS) if (c.expect !== "ok") expect(RULES).toHaveProperty(c.expect);
  });

  it.each(CORPUS.map((c) => [c.scope, c.sql.length > 120 ? `${c.sql.slice(0, 117)}...` : c.sql, c] as const))(
    "%s: %s",
    (_scope, _label, c) => {
      const verdict = checker.check(c.sql, SCOPES[c.scope], chinookCatalog);
      const got = verdict.allowed ? "ok" : verdict.ruleId;
      expect(got, verdict.reason).toBe(c.expect);
      if (!verdict.allowed) {
        expect(verdict.reason).toContain(`[rule ${verdict.ruleId}]`);
        expect(verdict.reason).toMatch(/This link allows: /);
      }
    },
  );
});
