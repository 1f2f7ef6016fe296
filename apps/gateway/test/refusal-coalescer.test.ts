import { expect, test } from "vitest";
import { RefusalCoalescer } from "../src/audit/refusal-coalescer.js";

test("one event per source, link, rule and minute at once, then one with the count of the rest", () => {
  let now = Date.UTC(2026, 11, 6, 22, 0, 5);
  const written: { linkId: string; ruleId?: string | null; reason?: string | null; sourceIp?: string | null }[] = [];
  const dropped: number[] = [];
  const c = new RefusalCoalescer((linkId, e) => written.push({ linkId, ruleId: e.ruleId, reason: e.reason, sourceIp: e.sourceIp }), () => dropped.push(1), 3, () => now);
  const r = (ip: string, linkId = "L1", ruleId = "unauthenticated") => c.refuse({ linkId, sourceIp: ip, ruleId, reason: "bad key", requestId: "x" });
  for (let i = 0; i < 500; i++) r("203.0.113.1");
  r("203.0.113.2");
  r("203.0.113.1", "L1", "rate_limited");
  expect(written.map((w) => [w.sourceIp, w.ruleId])).toEqual([
    ["203.0.113.1", "unauthenticated"],
    ["203.0.113.2", "unauthenticated"],
    ["203.0.113.1", "rate_limited"],
  ]);
  // Bounded: a fourth distinct tally in the same minute is only counted as dropped.
  r("203.0.113.3");
  expect(dropped.length).toBe(1);
  c.flush(false);
  expect(written.length).toBe(3); // the minute is not over
  now += 60_000;
  c.flush(false);
  expect(written.length).toBe(4);
  expect(written[3]!.reason).toMatch(/^499 more request\(s\) refused like this from the same source in the minute from 2026-12-06T22:00:00.000Z: bad key$/);
  // A new minute starts a new tally.
  r("203.0.113.1");
  expect(written.length).toBe(5);
  c.close();
});
