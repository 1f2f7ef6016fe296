import { describe, expect, it } from "vitest";
import { parseScope, type Scope, type Verdict } from "@portcullis/policy";
import { costGate, explainedStatement, readEstimate } from "../src/execution/cost-gate.js";
import type { StatementResult } from "../src/execution/pipelined-statement.js";

function scope(limits: Record<string, number>): Scope {
  const parsed = parseScope({ access: "read", limits: { maxRows: 10, statementTimeoutMs: 1000, ...limits } });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.scope;
}

const read = { allowed: true, readOnly: true, statementCount: 1, classes: ["read"], tables: [], fingerprint: "x" } as unknown as Verdict;
const write = { ...read, readOnly: false, classes: ["write"] } as unknown as Verdict;

function planResult(plan: unknown, extra: Partial<StatementResult> = {}): StatementResult {
  return {
    columns: [{ name: "QUERY PLAN", typeOid: 114 }],
    rowsJson: [JSON.stringify([plan])],
    rowCount: 1,
    commandRowCount: 1,
    command: "EXPLAIN",
    truncated: false,
    truncatedBy: null,
    bytes: 10,
    error: null,
    oversizedRowBytes: null,
    abandoned: false,
    ...extra,
  };
}

describe("costGate", () => {
  it("applies to every statement EXPLAIN plans, reads and writes, on links with a limit", () => {
    const limited = scope({ maxEstimatedCost: 100 });
    expect(costGate(scope({}), read, "SELECT 1")).toBeUndefined();
    for (const sql of ["UPDATE t SET a = 1", "insert into t select 1", "DELETE FROM t WHERE a IN (SELECT 1)", "MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "WITH u AS (UPDATE t SET a = 1 RETURNING 1) SELECT 1", "SELECT 1 FROM t FOR UPDATE"])
      expect(costGate(limited, write, sql)!.preflight().sql, sql).toBe(`EXPLAIN (FORMAT JSON) ${sql}`);
    // Utility statements EXPLAIN refuses are not gated (the statement timeout bounds them).
    for (const sql of ["CREATE TABLE t (a int)", "DROP TABLE t", "CALL p()", "DO $$BEGIN END$$", "VACUUM t", "TRUNCATE t"]) expect(costGate(limited, write, sql), sql).toBeUndefined();
    expect(costGate(limited, read, "SHOW search_path")).toBeUndefined();
    // EXPLAIN plans without running: not gated. EXPLAIN ANALYZE runs it: gated on the inner statement.
    expect(costGate(limited, read, "EXPLAIN SELECT 1")).toBeUndefined();
    expect(costGate(limited, read, "EXPLAIN (ANALYZE false, COSTS) SELECT 1")).toBeUndefined();
    expect(costGate(limited, read, "EXPLAIN ANALYZE SELECT 1")!.preflight().sql).toBe("EXPLAIN (FORMAT JSON) SELECT 1");
    expect(costGate(limited, read, "explain (analyse, buffers) /* c */ SELECT 2")!.preflight().sql).toBe("EXPLAIN (FORMAT JSON) SELECT 2");
    expect(costGate(limited, read, "EXPLAIN (ANALYZE (x)) SELECT 1")!.upfront!.reason).toMatch(/could not be read/);
    for (const sql of ["SELECT 1", "  /* a /* nested */ comment */ -- line\n select 1", "WITH x AS (SELECT 1) SELECT * FROM x", "VALUES (1)", "TABLE genre", "(SELECT 1)"])
      expect(costGate(limited, read, sql), sql).toBeDefined();
    expect(costGate(limited, read, "SELECT 1")!.preflight().sql).toBe("EXPLAIN (FORMAT JSON) SELECT 1");
  });

  it("refuses over either limit, names the estimate and the limit, and fails closed on an unreadable plan", () => {
    const gate = costGate(scope({ maxEstimatedCost: 100, maxEstimatedRows: 50 }), read, "SELECT 1")!;
    const preflight = gate.preflight();
    expect(preflight.proceed(planResult([{ Plan: { "Total Cost": 99.5, "Plan Rows": 50 } }]))).toBe(true);
    expect(gate.refusal).toBeNull();
    expect(gate.estimate).toEqual({ totalCost: 99.5, planRows: 50 });
    expect(preflight.proceed(planResult([{ Plan: { "Total Cost": 1234.5, "Plan Rows": 10 } }]))).toBe(false);
    expect(gate.refusal!.ruleId).toBe("estimated_cost_exceeded");
    expect(gate.refusal!.reason).toMatch(/cost \(the Total Cost of the plan's top node\) is 1234\.50; this link's limit is 100 \(limits\.maxEstimatedCost\)/);
    expect(preflight.proceed(planResult([{ Plan: { "Total Cost": 10, "Plan Rows": 51 } }]))).toBe(false);
    expect(gate.refusal!.ruleId).toBe("estimated_rows_exceeded");
    expect(gate.refusal!.reason).toMatch(/\(the Plan Rows of the plan's top node\) is 51 rows; this link's limit is 50 rows/);
    for (const bad of [planResult([{}]), planResult([{ Plan: { "Total Cost": "1" } }]), planResult([{ Plan: { "Total Cost": 1, "Plan Rows": 1 } }], { truncated: true })]) {
      expect(preflight.proceed(bad)).toBe(false);
      expect(gate.refusal!.reason).toMatch(/could not be read/);
    }
  });

  it("withholds the figures where estimates are redacted (filtered or masked rows)", () => {
    const gate = costGate(scope({ maxEstimatedRows: 50 }), read, "SELECT 1", { showEstimate: false })!;
    expect(gate.preflight().proceed(planResult([{ Plan: { "Total Cost": 10, "Plan Rows": 4321 } }]))).toBe(false);
    expect(gate.refusal!.ruleId).toBe("estimated_rows_exceeded");
    expect(gate.refusal!.reason).toMatch(/is above the limit \(the figure is not shown/);
    expect(gate.refusal!.reason).not.toMatch(/4,?321/);
  });

  it("reads an EXPLAIN's prefix: options, legacy keywords, comments and quoted values", () => {
    const inner = (sql: string) => {
      const e = explainedStatement(sql)!;
      return { analyze: e.analyze, inner: sql.slice(e.innerStart) };
    };
    expect(inner("EXPLAIN SELECT 1")).toEqual({ analyze: false, inner: "SELECT 1" });
    expect(inner("EXPLAIN ANALYZE VERBOSE SELECT 1")).toEqual({ analyze: true, inner: "SELECT 1" });
    expect(inner("EXPLAIN VERBOSE SELECT 1")).toEqual({ analyze: false, inner: "SELECT 1" });
    expect(inner("EXPLAIN (FORMAT 'json', ANALYZE on) -- why\n WITH x AS (SELECT 1) SELECT * FROM x")).toEqual({ analyze: true, inner: "WITH x AS (SELECT 1) SELECT * FROM x" });
    expect(inner("EXPLAIN (ANALYZE off) SELECT 1")).toEqual({ analyze: false, inner: "SELECT 1" });
    expect(inner("EXPLAIN (COSTS false, ANALYZE) (SELECT 1)")).toEqual({ analyze: true, inner: "(SELECT 1)" });
    expect(explainedStatement("EXPLAIN (ANALYZE")).toBeNull();
    expect(explainedStatement("SELECT 1")).toBeNull();
  });

  it("reads a plan delivered as json text too", () => {
    const result = planResult(JSON.stringify([{ Plan: { "Total Cost": 3e9, "Plan Rows": 7 } }]));
    expect(readEstimate(result)).toEqual({ totalCost: 3e9, planRows: 7 });
  });
});
