import { describe, expect, test } from "vitest";
import { isPlanResult, redactPlanIndexNames, redactPlanRows } from "../src/execution/plan-redaction.js";

describe("redactPlanIndexNames", () => {
  test("text plans", () => {
    expect(redactPlanIndexNames("Index Scan using customer_email_idx on customer c  (cost=0.28..8.29 rows=1 width=4)")).toBe(
      "Index Scan using <index> on customer c  (cost=0.28..8.29 rows=1 width=4)",
    );
    expect(redactPlanIndexNames("Index Only Scan Backward using \"Email Idx\" on customer")).toBe("Index Only Scan Backward using <index> on customer");
    expect(redactPlanIndexNames("  ->  Bitmap Index Scan on customer_email_idx  (cost=0.00..4.29 rows=1 width=0)")).toBe(
      "  ->  Bitmap Index Scan on <index>  (cost=0.00..4.29 rows=1 width=0)",
    );
  });

  test("structured formats", () => {
    expect(redactPlanIndexNames('{"Node Type": "Index Scan", "Index Name": "customer_email_idx"}')).toBe('{"Node Type": "Index Scan", "Index Name": "<index>"}');
    expect(redactPlanIndexNames('    Index Name: "customer_email_idx"')).toBe('    Index Name: "<index>"');
    expect(redactPlanIndexNames("<Index-Name>customer_email_idx</Index-Name>")).toBe("<Index-Name><index></Index-Name>");
  });

  test("rows as the gateway holds them, strings and json values alike", () => {
    expect(isPlanResult([{ name: "QUERY PLAN" }])).toBe(true);
    expect(isPlanResult([{ name: "QUERY PLAN" }, { name: "x" }])).toBe(false);
    expect(redactPlanRows([JSON.stringify(["Index Scan using a_b_idx on t"])])).toEqual([JSON.stringify(["Index Scan using <index> on t"])]);
    const json = [JSON.stringify([[{ Plan: { "Node Type": "Index Scan", "Index Name": "a_b_idx" } }]])];
    expect(JSON.parse(redactPlanRows(json)[0]!)[0][0].Plan["Index Name"]).toBe("<index>");
  });
});

describe("bound constants folded into a plan (issue 14)", () => {
  test("are put back as their $n, in text and JSON plans, and nothing else is touched", () => {
    const pads = "\\x3636363636";
    const constants = [
      { param: "$2", value: ["19178", "19179"] },
      { param: "$3", value: pads },
    ];
    const text = [JSON.stringify(["  Filter: ((oid <> ALL ('{19178,19179}'::oid[])) AND (x = '{19178}'::oid[]))"]), JSON.stringify([`  Output: sha256(('${pads}'::bytea || 'a'::bytea))`])];
    const out = redactPlanRows(text, { constants }).map((r) => JSON.parse(r)[0] as string);
    expect(out[0]).toBe("  Filter: ((oid <> ALL ($2::oid[])) AND (x = '{19178}'::oid[]))");
    expect(out[1]).toBe("  Output: sha256(($3::bytea || 'a'::bytea))");
    const json = [JSON.stringify([[{ Plan: { "Node Type": "Seq Scan", Filter: "(oid <> ALL ('{19178,19179}'::oid[]))", "Plan Rows": 12 } }]])];
    const [plan] = JSON.parse(redactPlanRows(json, { constants, estimates: true })[0]!) as [[{ Plan: Record<string, unknown> }]];
    expect(plan[0].Plan).toEqual({ "Node Type": "Seq Scan", Filter: "(oid <> ALL ($2::oid[]))", "Plan Rows": null });
  });
});
