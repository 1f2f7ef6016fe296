import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import * as catalog from "../src/analyze/catalog.js";
import * as code from "../src/analyze/code.js";
import * as ddl from "../src/analyze/ddl.js";
import * as dispatch from "../src/analyze/dispatch.js";
import * as dml from "../src/analyze/dml.js";
import * as expressions from "../src/analyze/expressions.js";
import * as functions from "../src/analyze/functions.js";
import * as names from "../src/analyze/names.js";
import * as select from "../src/analyze/select.js";
import * as rewrite from "../src/rewrite/rules-owned.js";
import { GATEWAY_RULES, RULES } from "../src/rules/rules.js";

/**
 * Each rule family's file and the ids it says it owns. A file that must raise another family's id
 * uses that family's exported factory (names.ts's undefinedTable, dispatch.ts's tooComplex, ...).
 */
const OWNERS: Record<string, readonly string[]> = {
  "analyze/catalog.ts": catalog.RULES_OWNED,
  "analyze/code.ts": code.RULES_OWNED,
  "analyze/ddl.ts": ddl.RULES_OWNED,
  "analyze/dispatch.ts": dispatch.RULES_OWNED,
  "analyze/dml.ts": dml.RULES_OWNED,
  "analyze/expressions.ts": expressions.RULES_OWNED,
  "analyze/functions.ts": functions.RULES_OWNED,
  "analyze/names.ts": names.RULES_OWNED,
  "analyze/select.ts": select.RULES_OWNED,
  "rewrite/rules-owned.ts": rewrite.RULES_OWNED,
  // Decided in apps/gateway (cost gate, write requests): no file here may raise them.
  "(gateway)": GATEWAY_RULES,
};

const SRC = new URL("../src/", import.meta.url);

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(new URL(dir, SRC), { withFileTypes: true })) {
    const path = `${dir}${entry.name}`;
    if (entry.isDirectory()) out.push(...sourceFiles(`${path}/`));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

/** Rule ids a file raises literally: `new Refusal("id", …)` (possibly across a line break). */
function thrownIds(text: string): string[] {
  return [...text.matchAll(/\bRefusal\(\s*"([a-z_]+)"/g)].map((m) => m[1]!);
}

describe("every rule id has exactly one owning file", () => {
  it("the owners' lists together are exactly the rule ids, none twice", () => {
    const all = Object.values(OWNERS).flat();
    const counts = new Map<string, number>();
    for (const id of all) counts.set(id, (counts.get(id) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1).map(([id]) => id)).toEqual([]);
    expect([...counts.keys()].sort()).toEqual(Object.keys(RULES).sort());
  });

  it("a file raises only ids it owns, and only owner files raise any", () => {
    const offenders: string[] = [];
    let raised = 0;
    for (const file of sourceFiles("")) {
      const ids = thrownIds(readFileSync(new URL(file, SRC), "utf8"));
      raised += ids.length;
      // The rewrite stage's files (rewrite/*) are one family with one list.
      const owned = OWNERS[file] ?? (file.startsWith("rewrite/") ? OWNERS["rewrite/rules-owned.ts"] : undefined);
      for (const id of ids) if (!owned?.includes(id)) offenders.push(`${file} raises ${id}`);
    }
    expect(offenders).toEqual([]);
    // The scan itself must see the refusals (a regex that matched nothing would prove nothing).
    expect(raised).toBeGreaterThan(60);
  });

  it("the text-level ids decide/checker.ts emits are listed in dispatch.ts", () => {
    const checker = readFileSync(new URL("decide/checker.ts", SRC), "utf8");
    const emitted = new Set([...checker.matchAll(/refused\(\s*scope,\s*(?:\w+|\{[^}\n]*\}),\s*"([a-z_]+)"/g)].map((m) => m[1]!));
    expect(emitted.size).toBeGreaterThanOrEqual(6);
    for (const id of emitted) expect(dispatch.TEXT_LEVEL_RULES as readonly string[]).toContain(id);
    for (const id of emitted) expect(id in RULES).toBe(true);
  });

  it("each family file stays small", () => {
    for (const file of sourceFiles("analyze/")) {
      const lines = readFileSync(new URL(file, SRC), "utf8").split("\n").length;
      expect(lines, file).toBeLessThan(360);
    }
  });
});
