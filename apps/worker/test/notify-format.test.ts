import { expect, test } from "vitest";
import type { NotificationFacts, WriteRequestFacts } from "../src/notify/facts.js";
import { emailMessage, headline, portcullisPayload, slackEscape, slackPayload } from "../src/notify/format.js";

const request = (over: Partial<WriteRequestFacts> = {}): WriteRequestFacts => ({
  type: "write_request",
  id: "11111111-1111-4111-8111-111111111111",
  kind: "approval",
  status: "pending",
  mode: "destructive",
  tables: ["public.invoice"],
  reason: "public.invoice requires a lead's approval for destructive writes",
  sql: "DELETE FROM invoice WHERE billing_country = $1",
  params: ["param-value-7f3a"],
  command: "DELETE",
  table: "public.invoice",
  affected: 340,
  requester: { id: "u1", email: "dev@example.com", name: "Dev" },
  clientName: "cursor",
  createdAt: "2026-12-07T09:00:00.000Z",
  expiresAt: "2026-12-07T10:00:00.000Z",
  executeBefore: null,
  decision: null,
  ...over,
});

const facts = (event: string, subject: NotificationFacts["subject"]): NotificationFacts => ({
  event,
  team: { id: "t1", slug: "acme", name: "Acme" },
  link: { id: "l1", name: "billing" },
  subject,
  url: "https://portcullis.example.com/t/acme/approvals?request=11111111-1111-4111-8111-111111111111",
});

test("headlines name the command, the table and the rows", () => {
  expect(headline(facts("write_request.created", request()))).toBe("Approval needed: DELETE on public.invoice (340 rows)");
  expect(headline(facts("write_request.created", request({ kind: "confirm", affected: 1, command: "UPDATE" })))).toBe("Confirmation needed: UPDATE on public.invoice (1 row)");
  expect(headline(facts("write_request.created", request({ affected: null })))).toBe("Approval needed: DELETE on public.invoice (row count unknown)");
  const decision = { outcome: "rejected" as const, by: { email: "lead@example.com", name: null }, at: "2026-12-07T09:05:00.000Z", comment: null };
  expect(headline(facts("write_request.decided", request({ status: "rejected", decision })))).toBe("Rejected: DELETE on public.invoice (340 rows)");
  const grant = {
    type: "access_grant" as const,
    id: "g1",
    status: "granted",
    table: "public.invoice",
    access: "write",
    minutes: 1,
    reason: "r",
    requester: { id: "u1", email: "dev@example.com", name: null },
    requestedVia: "tool",
    createdAt: "2026-12-07T09:00:00.000Z",
    requestExpiresAt: "2026-12-07T10:00:00.000Z",
    startsAt: "2026-12-07T09:01:00.000Z",
    expiresAt: "2026-12-07T09:02:00.000Z",
    decision: { ...decision, outcome: "granted" as const },
  };
  expect(headline(facts("access_grant.decided", grant))).toBe("Access granted: write on public.invoice for 1 minute");
});

test("parameters go in the Portcullis format only, never in Slack or e-mail", () => {
  const f = facts("write_request.created", request());
  expect(JSON.stringify(portcullisPayload(f, "d1", "2026-12-07T09:00:00.000Z"))).toContain("param-value-7f3a");
  expect(JSON.stringify(slackPayload(f))).not.toContain("param-value-7f3a");
  expect(JSON.stringify(emailMessage(f))).not.toContain("param-value-7f3a");
});

test("Slack: markup in names and SQL is escaped and a fence inside the SQL cannot close the code block", () => {
  expect(slackEscape("<!channel> & <https://evil|click>")).toBe("&lt;!channel&gt; &amp; &lt;https://evil|click&gt;");
  const f = facts("write_request.created", request({ sql: "UPDATE t SET note = '```<!here>```' WHERE id = 1", reason: "<!channel> please" }));
  const body = slackPayload(f);
  const text = JSON.stringify(body);
  expect(text).not.toContain("<!here>");
  expect(text).not.toContain("<!channel>");
  const code = (body.blocks as { type: string; text?: { text: string } }[]).filter((b) => b.type === "section").map((b) => b.text!.text).find((t) => t.startsWith("```"))!;
  // Exactly one opening and one closing fence.
  expect(code.match(/```/g)).toHaveLength(2);
  expect(code.endsWith("```")).toBe(true);
});

test("a very long statement is cut in Slack and e-mail (the dashboard has it whole), and the Slack section stays under 3,000 characters", () => {
  const f = facts("write_request.created", request({ sql: `DELETE FROM invoice WHERE invoice_id IN (${Array.from({ length: 3000 }, (_, i) => i).join(", ")})` }));
  const code = (slackPayload(f).blocks as { type: string; text?: { text: string } }[]).find((b) => b.text?.text.startsWith("```"))!.text!.text;
  expect(code.length).toBeLessThan(3000);
  expect(code).toContain("more characters in the dashboard");
  expect(emailMessage(f).text).toContain("more characters in the dashboard");
});

test("expiries: the requester learns whether nobody decided or the approval ran out, and that nothing ran", () => {
  const undecided = facts("write_request.expired", request({ status: "expired" }));
  expect(headline(undecided)).toBe("Expired without a decision: DELETE on public.invoice (340 rows)");
  expect(emailMessage(undecided).text).toContain("Nothing ran.");
  const approved = { outcome: "approved" as const, by: { email: "lead@example.com", name: null }, at: "2026-12-07T09:05:00.000Z", comment: null };
  expect(headline(facts("write_request.expired", request({ status: "expired", decision: approved })))).toBe("Expired before it ran: DELETE on public.invoice (340 rows)");
  const grant = {
    type: "access_grant" as const,
    id: "g1",
    status: "expired",
    table: "public.invoice",
    access: "write",
    minutes: 30,
    reason: "r",
    requester: { id: "u1", email: "dev@example.com", name: null },
    requestedVia: "tool",
    createdAt: "2026-12-07T09:00:00.000Z",
    requestExpiresAt: "2026-12-07T10:00:00.000Z",
    startsAt: null,
    expiresAt: null,
    decision: null,
  };
  expect(headline(facts("access_grant.expired", grant))).toBe("Access request expired without a decision: write on public.invoice for 30 minutes");
  const ended = facts("access_grant.expired", { ...grant, startsAt: "2026-12-07T09:01:00.000Z", expiresAt: "2026-12-07T09:31:00.000Z", decision: { ...approved, outcome: "granted" as const } });
  expect(headline(ended)).toBe("Access ended: write on public.invoice for 30 minutes");
  expect(emailMessage(ended).text).toContain("Access ended: 2026-12-07T09:31:00.000Z");
  // Slack: an expired subject is not pending, so no "decide" button.
  const actions = (slackPayload(ended).blocks as { type: string; elements?: { text: { text: string } }[] }[]).find((b) => b.type === "actions")!;
  expect(actions.elements![0]!.text.text).toBe("Open in Portcullis");
});

test("a request whose writes cannot be listed (function call, DO, CALL) says so, never 'DDL on <table>' nor a row count", () => {
  const opaque = request({ command: "runs code (function call / DO / CALL) whose writes cannot be listed", table: null, affected: null, tables: ["public.invoice", "public.invoice_line"], sql: "SELECT public.atk_f()" });
  const label = "runs code (function call / DO / CALL) whose writes cannot be listed";
  expect(headline(facts("write_request.created", opaque))).toBe(`Approval needed: ${label}`);
  expect(headline(facts("write_request.created", { ...opaque, kind: "confirm" }))).toBe(`Confirmation needed: ${label}`);
  const decision = { outcome: "approved" as const, by: { email: "lead@example.com", name: null }, at: "2026-12-07T09:05:00.000Z", comment: null };
  expect(headline(facts("write_request.decided", { ...opaque, status: "approved", decision }))).toBe(`Approved: ${label}`);
  const mail = emailMessage(facts("write_request.created", opaque));
  expect(mail.subject).toBe(`Approval needed: ${label}`);
  expect(mail.subject).not.toMatch(/DDL|public\.invoice|row count/);
  expect(JSON.stringify(slackPayload(facts("write_request.created", opaque)))).not.toMatch(/DDL on/);
  // Requests stored before the label (command "DDL" with no table) still read as before.
  expect(headline(facts("write_request.created", request({ command: "DDL", table: null, affected: null, tables: [] })))).toBe("Approval needed: DDL (row count unknown)");
});
