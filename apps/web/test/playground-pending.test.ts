import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, test } from "vitest";
import { renderPlayground } from "../../gateway/src/calls/render-playground";
import { OPAQUE_COMMAND, type PendingWrite } from "../../gateway/src/calls/pending-write";
import { PlaygroundAnswer } from "../src/features/playground/playground-answer";
import { playgroundResponseSchema } from "../src/features/playground/operations";

/**
 * Issue 15 in the Playground: the gateway's answer for a write that waits for a decision, made by the
 * gateway's own renderer from a pending outcome, parsed by the dashboard's schema and rendered.
 */
const REQUEST_ID = "0b6f3c1e-6a4b-4c52-9d5e-2f7a1c3b8e90";
const MESSAGE = `public.invoice_line requires a lead's approval for every write (approval: writes): this DELETE would remove 340 rows from public.invoice_line. Nothing was run. A lead must approve request ${REQUEST_ID}.`;

function pendingAnswer(over: Partial<PendingWrite> = {}): unknown {
  const data: PendingWrite = {
    status: "pending_approval", requestId: REQUEST_ID, kind: "approval", expiresAt: new Date(Date.now() + 30 * 60_000).toISOString(), message: MESSAGE,
    preview: { command: "DELETE", affected: 340, table: "public.invoice_line", columns: ["invoice_line_id", "unit_price"], keyColumns: ["invoice_line_id"], before: [[1, "4417.23"]], after: [], plan: null, notes: [], durationMs: 4 },
    ...over,
  };
  const rendered = renderPlayground({ kind: "pending", data, audit: { verdict: "blocked", ruleId: "approval_required", reason: "waits", classes: ["delete"], tables: ["public.invoice_line"] } });
  expect(rendered.status).toBe(200);
  // Through JSON, as it crosses the wire, plus a key the dashboard does not know.
  return { ...JSON.parse(JSON.stringify(rendered.body)), surprise: "dropped" };
}

const render = (body: unknown) => renderToStaticMarkup(createElement(PlaygroundAnswer, { result: playgroundResponseSchema.parse(body), sql: "DELETE FROM invoice_line", slug: "acme" }));

describe("the Playground's pending answer", () => {
  test("parses to the request's id, kind, counts and message; the preview's rows and unknown keys are dropped", () => {
    const parsed = playgroundResponseSchema.parse(pendingAnswer());
    expect(parsed.pending).toEqual({ status: "pending_approval", requestId: REQUEST_ID, kind: "approval", expiresAt: expect.any(String), message: MESSAGE, preview: { command: "DELETE", affected: 340, table: "public.invoice_line" } });
    expect(JSON.stringify(parsed)).not.toContain("4417.23");
    expect(parsed).not.toHaveProperty("surprise");
  });

  test("renders 'Waiting for approval' with the count in words, the message and a link to the request — not 'Blocked'", () => {
    const html = render(pendingAnswer());
    expect(html).toContain("Waiting for approval");
    expect(html).not.toContain("Blocked");
    expect(html).not.toContain("Allowed");
    expect(html).toContain("This statement would delete 340 rows from public.invoice_line. Nothing was run.");
    expect(html).toContain("public.invoice_line requires a lead&#x27;s approval for every write");
    expect(html).toContain(`href="/t/acme/approvals?request=${REQUEST_ID}"`);
    expect(html).toMatch(/\d+ min left/);
  });

  test("a confirmation says the member confirms it; code whose writes cannot be listed is named in words", () => {
    const html = render(pendingAnswer({ kind: "confirm", preview: { command: OPAQUE_COMMAND, affected: null, table: "public.invoice", columns: [], keyColumns: [], before: [], after: [], plan: null, notes: [], durationMs: 1 } }));
    expect(html).toContain("You confirm this one yourself");
    expect(html).toContain(`This statement ${OPAQUE_COMMAND}. Nothing was run.`);
  });

  test("a pending answer that is not what the gateway sends is refused whole, not half-shown", () => {
    const body = pendingAnswer() as { pending: Record<string, unknown> };
    for (const bad of [{ requestId: "../../settings" }, { kind: "later" }, { status: "approved" }, { expiresAt: "soon" }, { preview: { command: "DELETE", affected: -1, table: null } }]) {
      expect(playgroundResponseSchema.safeParse({ ...body, pending: { ...body.pending, ...bad } }).success).toBe(false);
    }
  });

  test("an answer without pending renders as before (a refusal is 'Blocked')", () => {
    const html = render({ verdict: { allowed: false, ruleId: "write_not_allowed", reason: "writes are off", classes: [], tables: [] } });
    expect(html).toContain("Blocked");
    expect(html).not.toContain("Waiting for approval");
  });
});
