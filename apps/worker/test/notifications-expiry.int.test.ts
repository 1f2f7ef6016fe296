import { testRedisUrl } from "@portcullis/db/testing";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { askApproval, deliveries, seedTeam, setWebhook, startReceiver, startSmtpSink } from "./notify-support.js";
import { createWorkerFixture, waitFor } from "./support.js";

/** Expiry notifications and a webhook whose secret cannot be opened, end to end through a running worker. */

let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
let worker: RunningWorker;
const WEB = "https://portcullis.example.com";

beforeAll(async () => {
  receiver = await startReceiver();
  smtp = await startSmtpSink();
  fixture = await createWorkerFixture(
    {
      PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: "1",
      NOTIFY_RETRY_BASE_MS: "100",
      NOTIFY_POLL_MS: "200",
      APPROVAL_SWEEP_EVERY_MS: "300",
      SMTP_URL: smtp.url,
      EMAIL_FROM: "Portcullis <approvals@portcullis.example.com>",
      WEB_PUBLIC_URL: WEB,
    },
    testRedisUrl(),
  );
  worker = await startWorker(fixture.env, { schedules: false, metricsServer: false, sweepEveryMs: 60_000 });
});

afterAll(async () => {
  await worker?.close();
  await receiver?.close();
  await smtp?.close();
  await fixture?.close();
});

test("the sweep's expiries reach the requester by e-mail and the webhook: an undecided request and a grant that ran its course; approvers hear nothing of it", async () => {
  const team = await seedTeam(fixture.pool);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/expired`, "portcullis");
  const request = await askApproval(fixture.pool, team, { expiresAt: new Date(Date.now() + 300) });
  const grantId = (
    await fixture.pool.query(
      `INSERT INTO access_grants (team_id, link_id, user_id, table_key, access, minutes, reason, requested_via, status, starts_at, expires_at, request_expires_at)
       VALUES ($1, $2, $3, 'public.invoice', 'write', 5, 'fix the March totals', 'tool', 'granted', now() - interval '5 minutes', now() - interval '1 second', now() + interval '1 hour')
       RETURNING id::text`,
      [team.teamId, team.linkId, team.users.requester.id],
    )
  ).rows[0].id as string;

  const mails = await waitFor(async () => {
    const got = smtp.mails.filter((m) => m.text.includes(request.id) || m.text.includes(grantId)).filter((m) => /^(Expired|Access ended)/.test(m.subject));
    return got.length >= 2 && got;
  }, 15_000, "the requester's expiry e-mails");
  const expired = mails.find((m) => m.text.includes(request.id))!;
  expect(expired.to).toEqual([team.users.requester.email]);
  expect(expired.subject).toBe("Expired without a decision: DELETE on public.invoice (340 rows)");
  expect(expired.text).toContain("Status: expired");
  expect(expired.text).toContain("Nothing ran.");
  expect(expired.text).toContain(`${WEB}/t/${team.slug}/approvals?request=${request.id}`);
  const ended = mails.find((m) => m.text.includes(grantId))!;
  expect(ended.to).toEqual([team.users.requester.email]);
  expect(ended.subject).toBe("Access ended: write on public.invoice for 5 minutes");

  const posts = await waitFor(async () => {
    const got = receiver.at("/expired").filter((p) => String(p.headers["portcullis-event"]).endsWith(".expired"));
    return got.length >= 2 && got;
  }, 15_000, "the expiry webhooks");
  const bodies = posts.map((p) => JSON.parse(p.body));
  expect(bodies.find((b) => b.event === "write_request.expired")).toMatchObject({ request: { id: request.id, status: "expired" } });
  expect(bodies.find((b) => b.event === "access_grant.expired")).toMatchObject({ grant: { id: grantId, status: "expired", table: "public.invoice" } });

  // Once each, however many sweeps ran meanwhile; the approvers got the request's creation, not its expiry.
  await new Promise((r) => setTimeout(r, 1000));
  const rows = (await deliveries(fixture.pool, request.id)).filter((d) => d.event === "write_request.expired");
  expect(rows.map((d) => [d.channel, d.target, d.status])).toEqual([
    ["email", team.users.requester.email, "delivered"],
    ["webhook", `${receiver.base}/…`, "delivered"],
  ]);
  expect(smtp.mails.filter((m) => m.text.includes(request.id) && m.subject.startsWith("Expired"))).toHaveLength(1);
  expect(receiver.at("/expired").filter((p) => p.headers["portcullis-event"] === "write_request.expired")).toHaveLength(1);
});

test("an unreadable webhook secret: the approvers are still e-mailed, nothing unsigned is posted, and the delivery log says why", async () => {
  const team = await seedTeam(fixture.pool);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/corrupt`, "portcullis");
  // The GCM tag of the sealed secret (v1.<key>.<iv>.<tag>.<body>) altered in place: it no longer opens.
  const altered = await fixture.pool.query(
    `UPDATE team_notification_settings SET webhook_secret_ciphertext = concat_ws('.',
        split_part(webhook_secret_ciphertext, '.', 1), split_part(webhook_secret_ciphertext, '.', 2), split_part(webhook_secret_ciphertext, '.', 3),
        translate(split_part(webhook_secret_ciphertext, '.', 4), 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 'BCDEFGHIJKLMNOPQRSTUVWXYZAbcdefghijklmnopqrstuvwxyza'),
        split_part(webhook_secret_ciphertext, '.', 5))
      WHERE team_id = $1 RETURNING webhook_secret_ciphertext`,
    [team.teamId],
  );
  expect(altered.rows[0].webhook_secret_ciphertext.split(".")).toHaveLength(5);
  const request = await askApproval(fixture.pool, team);

  const rows = await waitFor(async () => {
    const all = await deliveries(fixture.pool, request.id);
    return all.length === 4 && all.every((d) => d.status !== "pending") && all;
  }, 15_000, "the deliveries to settle");
  const approvers = [team.users.owner.email, team.users.admin.email, team.users.approver.email].sort();
  expect(rows.filter((d) => d.channel === "email").map((d) => [d.target, d.status])).toEqual(approvers.map((a) => [a, "delivered"]));
  const webhook = rows.find((d) => d.channel === "webhook")!;
  expect(webhook).toMatchObject({ status: "failed", attempts: 0, response_status: null, target: `${receiver.base}/…` });
  expect(webhook.last_error).toContain("signing secret cannot be read");
  const mails = smtp.mails.filter((m) => m.text.includes(request.id));
  expect(mails.flatMap((m) => m.to).sort()).toEqual(approvers);
  await new Promise((r) => setTimeout(r, 500));
  expect(receiver.at("/corrupt")).toHaveLength(0);
});
