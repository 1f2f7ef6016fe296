import { describe, expect, it } from "vitest";
import { describeVerification } from "../src/commands/audit.js";

describe("audit verify's report", () => {
  it("says what is keyed and that the checkpoint matches", () => {
    const text = describeVerification(
      { ok: true, checked: 7, headSeq: "7", keyedFromSeq: "4", keyChecked: true, checkpoint: { seq: "7", at: "2026-12-06T23:00:00.000Z", status: "matched" } },
      true,
    );
    expect(text).toContain("verified: 7 events, chain intact");
    expect(text).toContain("keyed: seq 1..3 SHA-256 (unkeyed, written before AUDIT_CHAIN_KEY); seq 4..7 HMAC-SHA-256 (checked with AUDIT_CHAIN_KEY)");
    expect(text).toContain("outside the database: matches");
  });

  it("a breach found before any event was read does not claim the chain is unkeyed", () => {
    const text = describeVerification(
      { ok: false, checked: 0, firstBroken: { seq: "6", id: "", reason: "the chain was rewritten" }, checkpoint: { seq: "8", at: "2026-12-06T23:00:00.000Z", status: "matched" } },
      true,
    );
    expect(text).toContain("BROKEN after 0 events: seq 6: the chain was rewritten");
    expect(text).toContain("keyed: not read");
    expect(text).not.toContain("plain SHA-256");
    expect(text).not.toContain(": matches");
  });
});
