import { createHmac, randomUUID } from "node:crypto";
import { decideWriteRequest } from "@portcullis/db/operations";
import { testRedisUrl } from "@portcullis/db/testing";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningWorker, startWorker } from "../src/app.js";
import { workerEnvSchema } from "../src/env.js";
import { askApproval, deliveries, seedTeam, setWebhook, startReceiver, startSmtpSink } from "./notify-support.js";
import { createWorkerFixture, waitFor } from "./support.js";

let fixture: Awaited<ReturnType<typeof createWorkerFixture>>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let smtp: Awaited<ReturnType<typeof startSmtpSink>>;
const workers: RunningWorker[] = [];
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
  workers.push(await startWorker(fixture.env, { schedules: false, metricsServer: false, sweepEveryMs: 60_000 }));
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.close()));
  await receiver?.close();
  await smtp?.close();
  await fixture?.close();
});

const verify = (secret: string, header: string, body: string) => {
  const [t, v1] = header.split(",").map((p) => p.split("=")[1]);
  return v1 === createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
};

test("a new request: the webhook is retried after two 500s and delivered on the third attempt, signed; approvers are e-mailed, nobody else", async () => {
  const team = await seedTeam(fixture.pool);
  receiver.script("/flaky", [500, 500, 200]);
  const whsec_flaky = await setWebhook(fixture.pool, team.teamId, `${receiver.base}/flaky`, "portcullis");
  const request = await askApproval(fixture.pool, team, { params: [42] });

  const webhook = await waitFor(
    async () => (await deliveries(fixture.pool, request.id)).find((d) => d.channel === "webhook" && d.status !== "pending"),
    20_000,
    "the webhook delivery to settle",
  );
  expect(webhook).toMatchObject({ status: "delivered", attempts: 3, response_status: 200, event: "write_request.created" });
  // The recorded target is the origin only: a webhook URL's path is often its credential.
  expect(webhook.target).toBe(`${receiver.base}/…`);
  const posts = receiver.at("/flaky");
  expect(posts.map((p) => p.status)).toEqual([500, 500, 200]);
  for (const post of posts) {
    expect(post.headers["portcullis-delivery"]).toBe(webhook.id);
    expect(post.headers["portcullis-event"]).toBe("write_request.created");
    expect(verify(whsec_flaky, String(post.headers["portcullis-signature"]), post.body)).toBe(true);
    expect(verify("another-secret", String(post.headers["portcullis-signature"]), post.body)).toBe(false);
  }
  const body = JSON.parse(posts[2]!.body);
  expect(body).toMatchObject({
    id: webhook.id,
    event: "write_request.created",
    team: { id: team.teamId, slug: team.slug },
    link: { id: team.linkId, name: "billing" },
    request: {
      id: request.id,
      kind: "approval",
      status: "pending",
      mode: "writes",
      tables: ["public.invoice"],
      sql: "DELETE FROM invoice WHERE total < $1",
      params: [42],
      affected: 340,
      requester: { email: team.users.requester.email },
    },
    url: `${WEB}/t/${team.slug}/approvals?request=${request.id}`,
  });
  expect(body.request.decision).toBeUndefined();

  const approvers = [team.users.owner.email, team.users.admin.email, team.users.approver.email].sort();
  const mails = await waitFor(async () => {
    const got = smtp.mails.filter((m) => m.text.includes(request.id));
    return got.length >= 3 && got;
  }, 15_000, "the approvers' e-mails");
  expect(mails.flatMap((m) => m.to).sort()).toEqual(approvers);
  for (const mail of mails) {
    expect(mail.subject).toBe("Approval needed: DELETE on public.invoice (340 rows)");
    expect(mail.from).toBe("approvals@portcullis.example.com");
    expect(mail.text).toContain("DELETE FROM invoice WHERE total < $1");
    expect(mail.text).toContain(`${WEB}/t/${team.slug}/approvals?request=${request.id}`);
  }
  const emailRows = (await deliveries(fixture.pool, request.id)).filter((d) => d.channel === "email");
  expect(emailRows.map((d) => d.target)).toEqual(approvers);
  expect(emailRows.every((d) => d.status === "delivered" && d.attempts === 1)).toBe(true);
});

test("a 400 fails at once: one attempt, no retry", async () => {
  const team = await seedTeam(fixture.pool);
  receiver.script("/bad", [400]);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/bad`, "portcullis", false);
  const request = await askApproval(fixture.pool, team);
  const webhook = await waitFor(
    async () => (await deliveries(fixture.pool, request.id)).find((d) => d.channel === "webhook" && d.status !== "pending"),
    15_000,
    "the webhook delivery to fail",
  );
  expect(webhook).toMatchObject({ status: "failed", attempts: 1, response_status: 400 });
  expect(webhook.last_error).toContain("HTTP 400");
  // Longer than the retries would take (100 ms, 200 ms, …): still one request.
  await new Promise((r) => setTimeout(r, 1500));
  expect(receiver.at("/bad")).toHaveLength(1);
  expect((await deliveries(fixture.pool, request.id)).filter((d) => d.channel === "email")).toEqual([]);
});

test("a receiver that keeps failing with 503 is tried 6 times, then the delivery is failed with its last answer", async () => {
  const team = await seedTeam(fixture.pool);
  receiver.script("/down", [503]);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/down`, "portcullis", false);
  const request = await askApproval(fixture.pool, team);
  const webhook = await waitFor(
    async () => (await deliveries(fixture.pool, request.id)).find((d) => d.channel === "webhook" && d.status !== "pending"),
    20_000,
    "the delivery to give up",
  );
  expect(webhook).toMatchObject({ status: "failed", attempts: 6, response_status: 503 });
  expect(webhook.last_error).toContain("HTTP 503");
  await new Promise((r) => setTimeout(r, 1000));
  expect(receiver.at("/down")).toHaveLength(6);
});

test("e-mail: a mailbox the server refuses (550) fails at once; a 451 is retried until the server takes it", async () => {
  const team = await seedTeam(fixture.pool);
  smtp.refuse.set(team.users.owner.email, 550);
  smtp.refuse.set(team.users.admin.email, 451);
  const request = await askApproval(fixture.pool, team);
  // The server takes the mail only once it has said "try later" at least once (a fixed delay raced a
  // loaded machine: the first attempt could come after it, and be delivered at once).
  await waitFor(async () => (smtp.refused.get(team.users.admin.email) ?? 0) >= 1, 20_000, "the first 451");
  smtp.refuse.delete(team.users.admin.email);
  const rows = await waitFor(async () => {
    const all = await deliveries(fixture.pool, request.id);
    return all.length === 3 && all.every((d) => d.status !== "pending") && all;
  }, 20_000, "the e-mails to settle");
  const by = (email: string) => rows.find((d) => d.target === email)!;
  expect(by(team.users.owner.email)).toMatchObject({ status: "failed", attempts: 1, response_status: 550 });
  expect(by(team.users.admin.email)).toMatchObject({ status: "delivered" });
  expect(by(team.users.admin.email).attempts).toBeGreaterThan(1);
  expect(by(team.users.approver.email)).toMatchObject({ status: "delivered", attempts: 1 });
  expect(smtp.mails.some((m) => m.to.includes(team.users.owner.email))).toBe(false);
  expect(smtp.mails.filter((m) => m.to.includes(team.users.admin.email))).toHaveLength(1);
});

test("Slack format: { text, blocks } with the SQL in a code block and a link to the dashboard, never the parameters; the decision reaches the requester", async () => {
  const team = await seedTeam(fixture.pool);
  receiver.script("/slack", [200]);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/slack`, "slack");
  const secretParam = `param-${randomUUID()}`;
  const request = await askApproval(fixture.pool, team, { params: [secretParam] });
  await waitFor(async () => receiver.at("/slack").length >= 1, 15_000, "the Slack message of the request");
  await decideWriteRequest(fixture.pool, { teamId: team.teamId, id: request.id, deciderId: team.users.admin.id, decision: "approve", comment: "go ahead <@U123>", via: "dashboard" });
  await waitFor(async () => receiver.at("/slack").length >= 2, 15_000, "the Slack message of the decision");

  const [created, decided] = receiver.at("/slack").map((p) => ({ raw: p.body, json: JSON.parse(p.body), event: p.headers["portcullis-event"] }));
  expect(created!.event).toBe("write_request.created");
  expect(decided!.event).toBe("write_request.decided");
  for (const message of [created!, decided!]) {
    expect(message.raw).not.toContain(secretParam);
    expect(Object.keys(message.json).sort()).toEqual(["blocks", "text"]);
    const sections = message.json.blocks.filter((b: { type: string }) => b.type === "section").map((b: { text: { text: string } }) => b.text.text);
    expect(sections.some((t: string) => t.startsWith("```") && t.includes("DELETE FROM invoice WHERE total &lt; $1"))).toBe(true);
    const actions = message.json.blocks.find((b: { type: string }) => b.type === "actions");
    expect(actions.elements[0]).toMatchObject({ type: "button", url: `${WEB}/t/${team.slug}/approvals?request=${request.id}` });
  }
  expect(created!.json.text).toContain("Approval needed: DELETE on public.invoice (340 rows)");
  expect(decided!.json.text).toContain("Approved: DELETE on public.invoice (340 rows)");
  // Markup in a comment is escaped, not a mention.
  expect(decided!.raw).toContain("go ahead &lt;@U123&gt;");
  expect(decided!.raw).not.toContain("<@U123>");

  const toRequester = await waitFor(async () => smtp.mails.find((m) => m.to.includes(team.users.requester.email)), 15_000, "the requester's e-mail");
  expect(toRequester.subject).toBe("Approved: DELETE on public.invoice (340 rows)");
  expect(toRequester.text).not.toContain(secretParam);
  expect(toRequester.text).toContain("Decision: approved by admin");
});

test("an access request reaches the approvers, with the table, access and minutes", async () => {
  const team = await seedTeam(fixture.pool);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/access`, "portcullis");
  const grantId = (
    await fixture.pool.query(
      `INSERT INTO access_grants (team_id, link_id, user_id, table_key, access, minutes, reason, requested_via, requested_by, request_expires_at)
       VALUES ($1, $2, $3, 'public.invoice', 'write', 30, 'fix the March totals', 'tool', $3, now() + interval '1 hour') RETURNING id`,
      [team.teamId, team.linkId, team.users.requester.id],
    )
  ).rows[0].id as string;
  await fixture.pool.query(`INSERT INTO notification_outbox (team_id, event, subject_id) VALUES ($1, 'access_grant.requested', $2)`, [team.teamId, grantId]);
  await waitFor(async () => receiver.at("/access").length >= 1, 15_000, "the access webhook");
  expect(JSON.parse(receiver.at("/access")[0]!.body)).toMatchObject({
    event: "access_grant.requested",
    grant: { id: grantId, table: "public.invoice", access: "write", minutes: 30, reason: "fix the March totals", status: "pending" },
  });
  const mails = await waitFor(async () => {
    const got = smtp.mails.filter((m) => m.text.includes(grantId));
    return got.length >= 3 && got;
  }, 15_000, "the approvers' e-mails");
  expect(mails[0]!.subject).toBe("Access requested: write on public.invoice for 30 minutes");
  expect(mails.flatMap((m) => m.to).sort()).toEqual([team.users.owner.email, team.users.admin.email, team.users.approver.email].sort());
});

test("a delivery already recorded for the event (a pass that died before marking its outbox row) is reused, not sent twice", async () => {
  const team = await seedTeam(fixture.pool);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/again`, "portcullis", false);
  const client = await fixture.pool.connect();
  let grantId: string;
  let existing: string;
  try {
    // One transaction, so the worker sees the grant, the earlier pass's delivery and the unprocessed row together.
    await client.query("BEGIN");
    grantId = (
      await client.query(
        `INSERT INTO access_grants (team_id, link_id, user_id, table_key, access, minutes, reason, requested_via, request_expires_at)
         VALUES ($1, $2, $3, 'public.invoice', 'read', 10, 'audit', 'tool', now() + interval '1 hour') RETURNING id`,
        [team.teamId, team.linkId, team.users.requester.id],
      )
    ).rows[0].id;
    existing = (
      await client.query(
        `INSERT INTO notification_deliveries (team_id, event, subject_id, channel, target) VALUES ($1, 'access_grant.requested', $2, 'webhook', $3) RETURNING id::text`,
        [team.teamId, grantId, `${receiver.base}/…`],
      )
    ).rows[0].id;
    await client.query(`INSERT INTO notification_outbox (team_id, event, subject_id) VALUES ($1, 'access_grant.requested', $2)`, [team.teamId, grantId]);
    await client.query("COMMIT");
  } finally {
    client.release();
  }
  await waitFor(async () => (await deliveries(fixture.pool, grantId)).every((d) => d.status === "delivered") && receiver.at("/again").length === 1, 15_000, "the delivery");
  await new Promise((r) => setTimeout(r, 500));
  expect(receiver.at("/again").map((p) => p.headers["portcullis-delivery"])).toEqual([existing]);
  expect(await deliveries(fixture.pool, grantId)).toEqual([expect.objectContaining({ id: existing, channel: "webhook", status: "delivered", attempts: 1 })]);
});

test("two workers draining the same outbox: every delivery happens exactly once", async () => {
  const team = await seedTeam(fixture.pool);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/twice`, "portcullis");
  workers.push(await startWorker(fixture.env, { schedules: false, metricsServer: false, sweepEveryMs: 60_000 }));
  const requests = await Promise.all(Array.from({ length: 20 }, () => askApproval(fixture.pool, team)));
  const ids = new Set(requests.map((r) => r.id));
  const settled = async () => {
    const { rows } = await fixture.pool.query(`SELECT count(*)::int AS n FROM notification_deliveries WHERE team_id = $1 AND status = 'delivered'`, [team.teamId]);
    return rows[0].n === 80;
  };
  await waitFor(settled, 30_000, "80 deliveries (20 webhooks, 60 e-mails)", 200);
  await new Promise((r) => setTimeout(r, 500));
  const posts = receiver.at("/twice");
  expect(posts).toHaveLength(20);
  expect(new Set(posts.map((p) => p.headers["portcullis-delivery"])).size).toBe(20);
  expect(new Set(posts.map((p) => JSON.parse(p.body).request.id))).toEqual(ids);
  const mails = smtp.mails.filter((m) => [...ids].some((id) => m.text.includes(id)));
  expect(mails).toHaveLength(60);
  expect(new Set(mails.map((m) => `${m.to.join()}|${/request=([0-9a-f-]+)/.exec(m.text)?.[1]}`)).size).toBe(60);
  const { rows } = await fixture.pool.query(`SELECT count(*)::int AS n FROM notification_deliveries WHERE team_id = $1 AND attempts <> 1`, [team.teamId]);
  expect(rows[0].n).toBe(0);
  const both = workers.slice(0, 2).map((w) => w.metrics.notificationsSent);
  const counts = await Promise.all(both.map(async (c) => (await c.get()).values.reduce((s, v) => s + v.value, 0)));
  // Both took part (SKIP LOCKED and BullMQ spread the work), and the sum is what was sent.
  expect(counts.every((n) => n > 0)).toBe(true);
});

test("the expiry sweep flips past-due requests and grants to expired and counts them", async () => {
  const team = await seedTeam(fixture.pool);
  const soon = await askApproval(fixture.pool, team, { expiresAt: new Date(Date.now() + 400) });
  const later = await askApproval(fixture.pool, team);
  const grant = async (status: string, end: string) =>
    (
      await fixture.pool.query(
        `INSERT INTO access_grants (team_id, link_id, user_id, table_key, access, minutes, reason, requested_via, status, starts_at, expires_at, request_expires_at)
         VALUES ($1, $2, $3, 'public.invoice', 'write', 5, 'r', 'tool', $4, now() - interval '10 minutes', ${end}, now() + interval '1 hour') RETURNING id`,
        [team.teamId, team.linkId, team.users.requester.id, status],
      )
    ).rows[0].id as string;
  const lapsed = await grant("granted", "now() - interval '1 second'");
  const running = await grant("granted", "now() + interval '1 hour'");
  const status = async (table: string, id: string) => (await fixture.pool.query(`SELECT status::text FROM ${table} WHERE id = $1`, [id])).rows[0].status;
  await waitFor(async () => (await status("write_requests", soon.id)) === "expired" && (await status("access_grants", lapsed)) === "expired", 10_000, "the sweep");
  expect(await status("write_requests", later.id)).toBe("pending");
  expect(await status("access_grants", running)).toBe("granted");
  // Each worker sweeps; together they counted at least these two (one conditional UPDATE each: no double count).
  const counted = await Promise.all(workers.map(async (w) => (await w.metrics.approvalsExpired.get()).values.reduce((s, v) => s + v.value, 0)));
  expect(counted.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2);
});

test("without PORTCULLIS_WEBHOOK_ALLOW_PRIVATE a loopback webhook is refused and nothing is sent; without SMTP_URL e-mails go to the log", async () => {
  await Promise.all(workers.splice(0).map((w) => w.close()));
  const env = workerEnvSchema.parse({ ...fixture.env, PORTCULLIS_WEBHOOK_ALLOW_PRIVATE: "", SMTP_URL: "" });
  expect(env.PORTCULLIS_WEBHOOK_ALLOW_PRIVATE).toBe(false);
  const strict = await startWorker(env, { schedules: false, metricsServer: false, sweepEveryMs: 60_000 });
  workers.push(strict);
  const team = await seedTeam(fixture.pool);
  await setWebhook(fixture.pool, team.teamId, `${receiver.base}/private`, "portcullis");
  const request = await askApproval(fixture.pool, team);
  const rows = await waitFor(async () => {
    const all = await deliveries(fixture.pool, request.id);
    return all.length === 4 && all.every((d) => d.status !== "pending") && all;
  }, 15_000, "the deliveries to settle");
  const webhook = rows.find((d) => d.channel === "webhook")!;
  expect(webhook).toMatchObject({ status: "failed", attempts: 1, response_status: null });
  expect(webhook.last_error).toContain("loopback");
  expect(receiver.at("/private")).toHaveLength(0);
  for (const mail of rows.filter((d) => d.channel === "email")) expect(mail).toMatchObject({ status: "delivered", last_error: expect.stringContaining("log") });
});
