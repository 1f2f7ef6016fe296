import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import {
  claimNotificationOutbox,
  claimWriteRequest,
  decideAccessGrant,
  decideWriteRequest,
  expireAccessGrants,
  expireWriteRequests,
  getNotificationSettings,
  listDeliveries,
  notificationTargets,
  recordDelivery,
  reencryptWebhookSecrets,
  releaseNotificationOutbox,
  requestAccessGrant,
  saveNotificationSettings,
  statementHash,
  updateDelivery,
} from "../src/operations/index.js";
import { generateSecretKey, SecretKeyring } from "../src/secrets/index.js";
import { createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";
import { approvalsWorld, newRequest, poolFor } from "./support/approvals-world.js";

let meta: TestDatabase;
let prisma: PrismaClient;
let pool: pg.Pool;
const k1 = generateSecretKey("k1");
const keyring = SecretKeyring.parse(k1);

beforeAll(async () => {
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
  pool = poolFor(meta.url);
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
});

afterAll(async () => {
  delete process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP;
  await pool?.end();
  await prisma?.$disconnect();
  await meta?.drop();
});

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (error instanceof PortcullisError) return `${error.code}: ${error.message}`;
  throw new Error(`expected a typed refusal, got ${String(error)}`);
}

describe("notification settings", () => {
  it("the secret is generated, sealed, shown once, kept on later saves, rotated on demand and dropped with the webhook", async () => {
    const w = await approvalsWorld(prisma);
    expect(await getNotificationSettings(pool, { teamId: w.team.id })).toMatchObject({ webhookUrl: null, webhookSecretSet: false, emailApprovers: true });
    const first = await saveNotificationSettings(prisma, { teamId: w.team.id, actorUserId: w.owner.id, webhookUrl: "https://hooks.example.com/p", webhookFormat: "slack" }, keyring);
    expect(first.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(first.settings).toMatchObject({ webhookUrl: "https://hooks.example.com/p", webhookFormat: "slack", webhookSecretSet: true });
    const stored = await prisma.teamNotificationSettings.findUniqueOrThrow({ where: { teamId: w.team.id } });
    expect(stored.webhookSecretCiphertext).not.toContain(first.secret!);
    expect(keyring.open(stored.webhookSecretCiphertext!, `webhook:${w.team.id}`)).toBe(first.secret);
    const again = await saveNotificationSettings(pool, { teamId: w.team.id, actorUserId: w.owner.id, webhookUrl: "https://hooks.example.com/q", emailApprovers: false }, keyring);
    expect(again.secret).toBeNull();
    const outbox = await prisma.notificationOutbox.findMany({ where: { teamId: w.team.id } });
    expect(outbox).toEqual([]);
    const r = await newRequest(prisma, w);
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, keyring)).webhook).toEqual({
      url: "https://hooks.example.com/q",
      format: "portcullis",
      secret: first.secret,
    });
    const rotated = await saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: "https://hooks.example.com/q", rotateSecret: true }, keyring);
    expect(rotated.secret).not.toBe(first.secret);
    const dropped = await saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: null }, keyring);
    expect(dropped.settings.webhookSecretSet).toBe(false);
    expect((await prisma.teamNotificationSettings.findUniqueOrThrow({ where: { teamId: w.team.id } })).webhookSecretCiphertext).toBeNull();
    // Every save is audited, and the secret appears in no audit record.
    const events = (await prisma.auditOutbox.findMany({ where: { teamId: w.team.id } })).map((e) => e.event).filter((e) => e.includes("team.notifications.update"));
    expect(events).toHaveLength(4);
    for (const e of events) expect(e).not.toContain(first.secret!);
    expect(events.join("\n")).not.toContain(rotated.secret!);
  });

  it("webhook URLs: https only unless PORTCULLIS_WEBHOOK_ALLOW_HTTP=1, no credentials, not other schemes", async () => {
    const w = await approvalsWorld(prisma);
    const save = (webhookUrl: unknown) => saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl } as never, keyring);
    expect((await save("http://127.0.0.1:9999/hook")).settings.webhookUrl).toBe("http://127.0.0.1:9999/hook");
    delete process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP;
    try {
      expect(await refusal(save("http://127.0.0.1:9999/hook"))).toContain("must use https://");
    } finally {
      process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
    }
    expect(await refusal(save("https://user:pw@hooks.example.com/"))).toContain("no user name or password");
    expect(await refusal(save("javascript:alert(1)"))).toContain("invalid_input");
    expect(await refusal(save("file:///etc/passwd"))).toContain("invalid_input");
    expect(await refusal(save("not a url"))).toContain("invalid_input");
    expect(await refusal(save(["https://a.example.com"]))).toContain("invalid_input");
    expect(await refusal(saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: null, webhookFormat: "teams" } as never, keyring))).toContain("invalid_input");
  });

  it("secrets reencrypt re-seals webhook secrets under the new primary key", async () => {
    const w = await approvalsWorld(prisma);
    const { secret } = await saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: "https://hooks.example.com/r" }, keyring);
    const next = SecretKeyring.parse(`${generateSecretKey("k2")},${k1}`);
    const result = await reencryptWebhookSecrets(pool, next);
    expect(result.reencrypted).toBeGreaterThanOrEqual(1);
    expect(result.remaining).toBe(0);
    const row = await prisma.teamNotificationSettings.findUniqueOrThrow({ where: { teamId: w.team.id } });
    expect(row.webhookSecretKeyId).toBe("k2");
    expect(next.open(row.webhookSecretCiphertext!, `webhook:${w.team.id}`)).toBe(secret);
  });
});

describe("notification outbox and deliveries", () => {
  it("claims each row once across concurrent claimers, releases on failure, targets approvers minus the requester", async () => {
    const w = await approvalsWorld(prisma);
    const r = await newRequest(pool, w);
    const g = await requestAccessGrant(pool, { teamId: w.team.id, linkId: w.link.id, userId: w.requester.id, tableKey: "public.invoice", access: "write", minutes: 5, reason: "fix", via: "tool" });
    // Drain everything earlier tests left, then claim from three workers at once.
    await decideWriteRequest(pool, { teamId: w.team.id, id: r.id, deciderId: w.admin.id, decision: "approve", via: "cli" });
    const claims = await Promise.all([claimNotificationOutbox(pool, 1000), claimNotificationOutbox(prisma, 1000), claimNotificationOutbox(pool, 1000)]);
    const mine = claims.flat().filter((o) => o.teamId === w.team.id);
    const ids = claims.flat().map((o) => o.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(mine.map((o) => o.event).sort()).toEqual(["access_grant.requested", "write_request.created", "write_request.decided"]);
    expect(await claimNotificationOutbox(pool, 10)).toEqual([]);
    expect(await releaseNotificationOutbox(pool, [mine[0]!.id])).toBe(1);
    expect((await claimNotificationOutbox(pool, 10)).map((o) => o.id)).toEqual([mine[0]!.id]);

    const created = await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, keyring);
    // Owner, admin and the listed approver; not the requester, not the listed viewer, no webhook configured.
    expect(created).toEqual({ emails: [w.admin.email, w.approver.email, w.owner.email].sort(), webhook: null, webhookError: null, linkId: w.link.id });
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "access_grant.requested", subjectId: g.id }, keyring)).emails).not.toContain(w.requester.email);
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.decided", subjectId: r.id }, keyring)).emails).toEqual([w.requester.email]);
    const confirm = await newRequest(pool, w, { kind: "confirm", mode: "confirm" });
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: confirm.id }, keyring)).emails).toEqual([w.requester.email]);
    // Another team's id: no targets at all.
    expect(await notificationTargets(pool, { teamId: w.otherTeam.id, event: "write_request.created", subjectId: r.id }, keyring)).toEqual({ emails: [], webhook: null, webhookError: null, linkId: null });
    // A listed requester is still left out unless the link allows self-approval.
    await prisma.linkApprover.create({ data: { linkId: w.link.id, userId: w.requester.id } });
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, keyring)).emails).not.toContain(w.requester.email);
    const scope = (await prisma.link.findUniqueOrThrow({ where: { id: w.link.id } })).scope as Record<string, unknown>;
    await prisma.link.update({ where: { id: w.link.id }, data: { scope: { ...scope, approvalOptions: { selfApproval: true } } } });
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, keyring)).emails).toContain(w.requester.email);
    await saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: null, emailApprovers: false }, keyring);
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, keyring)).emails).toEqual([]);
  });

  it("one delivery per event, subject, channel and target; attempts and outcomes recorded; listed per team", async () => {
    const w = await approvalsWorld(prisma);
    const r = await newRequest(pool, w);
    const input = { teamId: w.team.id, event: "write_request.created" as const, subjectId: r.id, channel: "email" as const, target: w.owner.email };
    const [a, b] = await Promise.all([recordDelivery(pool, input), recordDelivery(prisma, input)]);
    expect(a.id).toBe(b.id);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    await updateDelivery(pool, { teamId: w.team.id, id: a.id, status: "pending", attempts: 1, lastError: "connect ECONNREFUSED" });
    const done = await updateDelivery(pool, { teamId: w.team.id, id: a.id, status: "delivered", attempts: 2, responseStatus: 204 });
    expect(done).toMatchObject({ status: "delivered", attempts: 2, lastError: null, responseStatus: 204 });
    expect(done!.deliveredAt).toBeInstanceOf(Date);
    expect(await updateDelivery(pool, { teamId: w.otherTeam.id, id: a.id, status: "failed", attempts: 9 })).toBeNull();
    expect((await listDeliveries(pool, { teamId: w.team.id })).map((d) => [d.id, d.status])).toEqual([[a.id, "delivered"]]);
    expect(await listDeliveries(pool, { teamId: w.otherTeam.id })).toEqual([]);
    expect(await refusal(recordDelivery(pool, { ...input, channel: "sms" } as never))).toContain("invalid_input");
  });
});

describe("expiry notifications", () => {
  const outboxOf = async (teamId: string) =>
    (await pool.query<{ event: string; subject_id: string }>("SELECT event, subject_id::text FROM notification_outbox WHERE team_id = $1 ORDER BY event, subject_id", [teamId])).rows
      .filter((r) => r.event.endsWith(".expired"))
      .map((r) => `${r.event} ${r.subject_id}`);

  it("each expiry writes one outbox row in its own statement, even with sweeps racing; the requester and the webhook are told", async () => {
    const w = await approvalsWorld(prisma);
    const { secret } = await saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: "https://hooks.example.com/exp" }, keyring);
    const pending = await newRequest(pool, w);
    const approved = await newRequest(pool, w);
    await decideWriteRequest(pool, { teamId: w.team.id, id: approved.id, deciderId: w.admin.id, decision: "approve", via: "cli" });
    const later = await newRequest(pool, w, { expiresAt: new Date(Date.now() + 5 * 3_600_000) });
    const asked = await requestAccessGrant(pool, { teamId: w.team.id, linkId: w.link.id, userId: w.requester.id, tableKey: "public.invoice", access: "write", minutes: 5, reason: "fix", via: "tool" });
    const granted = await decideAccessGrant(pool, { teamId: w.team.id, id: asked.id, deciderId: w.admin.id, decision: "grant" });
    const waiting = await requestAccessGrant(pool, { teamId: w.team.id, linkId: w.link.id, userId: w.requester.id, tableKey: "public.invoice", access: "read", minutes: 5, reason: "look", via: "tool" });
    expect(await outboxOf(w.team.id)).toEqual([]);

    // Two hours on: the pending request (1 h) and the approval (60 min to run) are past, the grant (5 min) ended;
    // the 5-hour request and the access request (24 h wait) are not. Four sweeps at once, two of each.
    const at = new Date(Date.now() + 2 * 3_600_000);
    await Promise.all([expireWriteRequests(pool, at), expireWriteRequests(prisma, at), expireAccessGrants(pool, at), expireAccessGrants(prisma, at)]);
    expect(await outboxOf(w.team.id)).toEqual(
      [`write_request.expired ${pending.id}`, `write_request.expired ${approved.id}`, `access_grant.expired ${granted.id}`].sort(),
    );
    const status = async (table: string, id: string) => (await pool.query(`SELECT status::text FROM ${table} WHERE id = $1`, [id])).rows[0].status;
    expect([await status("write_requests", later.id), await status("access_grants", waiting.id)]).toEqual(["pending", "pending"]);
    // A later sweep finds nothing new to tell.
    await Promise.all([expireWriteRequests(pool, at), expireAccessGrants(pool, at)]);
    expect(await outboxOf(w.team.id)).toHaveLength(3);

    for (const [event, subjectId] of [["write_request.expired", pending.id], ["write_request.expired", approved.id], ["access_grant.expired", granted.id]] as const) {
      expect(await notificationTargets(pool, { teamId: w.team.id, event, subjectId }, keyring)).toEqual({
        emails: [w.requester.email],
        webhook: { url: "https://hooks.example.com/exp", format: "portcullis", secret },
        webhookError: null,
        linkId: w.link.id,
      });
    }
  });

  it("an expiry recorded by a losing decision or a late claim is told once too, and the sweep does not tell it again", async () => {
    const w = await approvalsWorld(prisma);
    const undecided = await newRequest(pool, w);
    const unrun = await newRequest(pool, w);
    await decideWriteRequest(pool, { teamId: w.team.id, id: unrun.id, deciderId: w.admin.id, decision: "approve", via: "cli" });
    // Past their times on the database clock, as the sweep has not run yet.
    await pool.query("UPDATE write_requests SET expires_at = now() - interval '1 second' WHERE id = $1", [undecided.id]);
    await pool.query("UPDATE write_requests SET execute_before = now() - interval '1 second' WHERE id = $1", [unrun.id]);
    const late = await decideWriteRequest(pool, { teamId: w.team.id, id: undecided.id, deciderId: w.admin.id, decision: "approve", via: "cli" }).catch((e: { code?: string }) => e.code);
    expect(late).toBe("expired");
    const claim = await claimWriteRequest(pool, {
      teamId: w.team.id,
      id: unrun.id,
      linkId: w.link.id,
      statementHash: statementHash("DELETE FROM invoice WHERE invoice_id = $1", [100]),
      principalSubject: "key:abc",
      userId: w.requester.id,
      catalogVersion: "cat-1",
    });
    expect(claim).toMatchObject({ ok: false, code: "expired" });
    expect(await outboxOf(w.team.id)).toEqual([`write_request.expired ${undecided.id}`, `write_request.expired ${unrun.id}`].sort());
    await expireWriteRequests(pool);
    expect(await outboxOf(w.team.id)).toHaveLength(2);
  });

  it("an unreadable webhook secret: no webhook, the reason, and the e-mails all the same", async () => {
    const w = await approvalsWorld(prisma);
    await saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: "https://hooks.example.com/broken" }, keyring);
    // One character of the sealed secret changed: authenticated encryption refuses to open it.
    await pool.query(
      `UPDATE team_notification_settings SET webhook_secret_ciphertext =
         overlay(webhook_secret_ciphertext PLACING CASE WHEN substr(webhook_secret_ciphertext, length(webhook_secret_ciphertext) - 4, 1) = 'A' THEN 'B' ELSE 'A' END
                 FROM length(webhook_secret_ciphertext) - 4 FOR 1)
       WHERE team_id = $1`,
      [w.team.id],
    );
    const r = await newRequest(pool, w);
    const targets = await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, keyring);
    expect(targets).toEqual({
      emails: [w.admin.email, w.approver.email, w.owner.email].sort(),
      webhook: null,
      webhookError: { url: "https://hooks.example.com/broken", message: expect.stringContaining("cannot be read") },
      linkId: w.link.id,
    });
    // A keyring without the sealing key: the same.
    const other = SecretKeyring.parse(generateSecretKey("k9"));
    await saveNotificationSettings(pool, { teamId: w.team.id, webhookUrl: "https://hooks.example.com/broken", rotateSecret: true }, keyring);
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, other)).webhookError).not.toBeNull();
    expect((await notificationTargets(pool, { teamId: w.team.id, event: "write_request.created", subjectId: r.id }, keyring)).webhook).not.toBeNull();
  });
});
