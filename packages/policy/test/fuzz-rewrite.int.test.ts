import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import type { TestDatabase } from "@portcullis/db/testing";
import { createPolicyChecker, type Catalog } from "../src/index.js";
import { createPolicyDatabase } from "./support/chinook.js";
import { generateStatements } from "./support/fuzz.js";
import { agree, ATTRS, bindings, clearValuesIn, createTruthDatabase, limits, runOurs, runTruth, type Truth } from "./support/governed.js";
import { SCOPES } from "./support/scopes.js";

// The fuzz generator (aimed at customer, with joins, stars, whole-row values, CTEs, set operations
// and mutations of the corpus) against the rewrite: every statement the governed scope allows runs
// rewritten on an untouched copy and as-is under row-level security on the masked ground truth
// (support/governed.ts); results must agree and no clear value of a masked column may appear.
// Capped like fuzz.int.test.ts so the suite stays within seconds on two cores.
const STATEMENTS = generateStatements(10_000, 4242);
const MAX_EXECUTED = 400;
// Results that depend on the plan, the clock or the database itself (the catalogs: the truth copy has
// another name, other oids and statistics; the virtual catalog has its own differential test) cannot
// be compared between two databases: they still run, and still may not leak, but are not compared.
const UNSTABLE = /\b(LIMIT|OFFSET|now|current_\w+|random|txid_current|pg_\w+|information_schema|DISTINCT ON)\b/i;

let ours: TestDatabase;
let catalog: Catalog;
let truth: Truth;
let a: pg.Client;
let b: pg.Client;

beforeAll(async () => {
  [{ db: ours, catalog }, truth] = await Promise.all([createPolicyDatabase(), createTruthDatabase()]);
  a = new pg.Client({ connectionString: ours.url });
  b = new pg.Client({ connectionString: truth.db.url });
  await Promise.all([a.connect(), b.connect()]);
  limits.statementTimeout = "1s";
});
afterAll(async () => {
  await Promise.all([a?.end(), b?.end()]);
  await Promise.all([ours?.drop(), truth?.close()]);
});

describe("fuzz: the rewrite against row-level security and the masked ground truth", () => {
  it("allowed statements agree with RLS and never return a clear masked value", async () => {
    const checker = createPolicyChecker();
    const scope = SCOPES.governed;
    const divergences: string[] = [];
    const leaks: string[] = [];
    let executed = 0;
    let compared = 0;
    let rewritten = 0;
    let withRows = 0;
    let timedOut = 0;
    const seen = new Set<string>();
    for (const sql of STATEMENTS) {
      if (executed >= MAX_EXECUTED) break;
      if (seen.has(sql)) continue;
      seen.add(sql);
      const verdict = checker.check(sql, scope, catalog);
      if (!verdict.allowed || verdict.statementCount !== 1) continue;
      executed++;
      if (verdict.rewrite) rewritten++;
      const write = !verdict.readOnly;
      const unstable = UNSTABLE.test(sql);
      const [mine, theirs] = await Promise.all([runOurs(a, sql, verdict, bindings(), write), unstable ? undefined : runTruth(b, truth, sql, ATTRS, write)]);
      for (const v of clearValuesIn(mine, truth.clearValues)) leaks.push(`${sql}\n  returned the clear value ${v}`);
      if ((mine.rows?.length ?? 0) > 0) withRows++;
      if (!theirs) continue;
      // A statement either side could not finish within the fuzz timeout proves nothing either way.
      if (mine.code === "57014" || theirs.code === "57014") {
        timedOut++;
        continue;
      }
      compared++;
      const d = agree(sql, mine, theirs);
      if (d) divergences.push(d);
    }
    console.info(`fuzz rewrite: ${executed} allowed statements executed (${rewritten} rewritten, ${withRows} with rows), ${compared} compared with RLS, ${timedOut} timed out`);
    expect(leaks).toEqual([]);
    expect(divergences).toEqual([]);
    expect(rewritten).toBeGreaterThan(80);
    expect(compared).toBeGreaterThan(150);
    expect(withRows).toBeGreaterThan(80);
  }, 240_000);
});
