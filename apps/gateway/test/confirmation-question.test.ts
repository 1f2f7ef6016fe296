import { describe, expect, test } from "vitest";
import { OPAQUE_COMMAND } from "../src/calls/pending-write.js";
import { confirmationQuestion, type PendingConfirm } from "../src/mcp/confirmation.js";

const pending = (command: string, affected: number | null, table: string | null): PendingConfirm =>
  ({ status: "pending_approval", kind: "confirm", requestId: "0f0e0d0c-0b0a-4908-8706-050403020100", expiresAt: "2026-12-07T10:00:00.000Z", preview: { command, affected, table } }) as unknown as PendingConfirm;

describe("the question a developer confirms in their client", () => {
  test("names the verb, the count and the table of a listed write", () => {
    expect(confirmationQuestion(pending("DELETE", 340, "public.invoice"), "DELETE FROM invoice WHERE total < 1")).toMatch(/^Delete 340 rows from public\.invoice\? The AI client asks to run: DELETE FROM invoice/);
  });

  test("promises no verb or count for code whose writes cannot be listed", () => {
    const q = confirmationQuestion(pending(OPAQUE_COMMAND, null, null), "SELECT public.cleanup()");
    expect(q).toMatch(/^Run code whose writes cannot be listed in advance\? The AI client asks to run: SELECT public\.cleanup\(\)/);
    expect(q).not.toMatch(/RUNS CODE|rows on/);
  });
});
