import { expect, test } from "vitest";
import { boundCalls } from "../src/features/links/replay-bound";

test("the replay keeps the newest calls up to the bound: the crossing text is cut to fit, older texts are left out", () => {
  const rows = [{ sql: "a", calls: 60 }, { sql: "b", calls: 50 }, { sql: "c", calls: 5 }];
  expect(boundCalls(rows, 200)).toEqual({ rows, calls: 115, truncated: false });
  expect(boundCalls(rows, 115)).toEqual({ rows, calls: 115, truncated: false });
  expect(boundCalls(rows, 100)).toEqual({ rows: [rows[0], { sql: "b", calls: 40 }], calls: 100, truncated: true });
  expect(boundCalls(rows, 110)).toEqual({ rows: rows.slice(0, 2), calls: 110, truncated: true });
  expect(boundCalls([], 10)).toEqual({ rows: [], calls: 0, truncated: false });
  // The input is not modified (the loader's rows may be shared).
  expect(rows[1]!.calls).toBe(50);
});
