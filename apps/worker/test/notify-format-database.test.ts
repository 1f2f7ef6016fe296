import { expect, test } from "vitest";
import type { AccessGrantFacts, NotificationFacts } from "../src/notify/facts.js";
import { emailMessage, portcullisPayload, slackPayload } from "../src/notify/format.js";

/** Attack finding 2: the approver reads which database a grant or request is for, in every channel. */
const grant: AccessGrantFacts = {
  type: "access_grant",
  id: "22222222-2222-4222-8222-222222222222",
  status: "pending",
  table: "public.accounts",
  access: "write",
  minutes: 60,
  reason: "fix a balance",
  requester: { id: "u1", email: "dev@example.com", name: null },
  requestedVia: "tool",
  createdAt: "2026-12-07T09:00:00.000Z",
  requestExpiresAt: "2026-12-08T09:00:00.000Z",
  startsAt: null,
  expiresAt: null,
  decision: null,
};
const facts = (database: string | null | undefined): NotificationFacts => ({
  event: "access_grant.requested",
  team: { id: "t1", slug: "acme", name: "Acme" },
  link: { id: "l1", name: "finance" },
  ...(database === undefined ? {} : { database }),
  subject: grant,
  url: "https://portcullis.example.com/t/acme/approvals?grant=22222222-2222-4222-8222-222222222222",
});

test("a grant on a named database says so in the e-mail, Slack and the webhook", () => {
  const f = facts("ledger");
  expect(emailMessage(f).text).toContain("Link: finance\nDatabase: ledger\n");
  const slack = slackPayload(f);
  expect(JSON.stringify(slack.blocks)).toContain("*Database:* ledger");
  expect(slack.text).toContain("(database ledger)");
  expect(portcullisPayload(f, "d1", "2026-12-07T09:00:00.000Z")).toMatchObject({ database: "ledger", link: { name: "finance" } });
});

test("a single-database link's row naming none reads as before", () => {
  for (const f of [facts(null), facts(undefined)]) {
    expect(emailMessage(f).text).not.toContain("Database:");
    expect(JSON.stringify(slackPayload(f))).not.toContain("Database");
    expect(portcullisPayload(f, "d1", "2026-12-07T09:00:00.000Z")).not.toHaveProperty("database");
  }
});
