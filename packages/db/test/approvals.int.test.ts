import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import {
  claimWriteRequest,
  decideWriteRequest,
  expireWriteRequests,
  finishWriteRequest,
  getWriteRequest,
  listLinkApprovers,
  listWriteRequests,
  mayApprove,
  setLinkApprovers,
  statementHash,
  WriteRequestDecisionError,
} from "../src/operations/index.js";
import { createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";
import { approvalsWorld, newRequest, poolFor, requestInput, type ApprovalsWorld } from "./support/approvals-world.js";

let meta: TestDatabase;
let prisma: PrismaClient;
let pool: pg.Pool;

beforeAll(async () => {
  meta = await createMetadataDatabase();
  prisma = createPrismaClient(meta.url);
  pool = poolFor(meta.url);
});

afterAll(async () => {
  await pool?.end();
  await prisma?.$disconnect();
  await meta?.drop();
});

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (error instanceof WriteRequestDecisionError || error instanceof PortcullisError) return error.code;
  throw new Error(`expected a typed refusal, got ${String(error)}`);
}

const outbox = (subjectId: string) => prisma.notificationOutbox.findMany({ where: { subjectId }, orderBy: { createdAt: "asc" } });
const audits = async (writeRequestId: string) =>
  (await prisma.auditOutbox.findMany({ where: {} })).map((r) => JSON.parse(r.event) as Record<string, unknown>).filter((e) => e.writeRequestId === writeRequestId);
const decide = (w: ApprovalsWorld, id: string, deciderId: string, decision: "approve" | "reject", over: Record<string, unknown> = {}) =>
  decideWriteRequest(prisma, { teamId: w.team.id, id, deciderId, decision, via: "dashboard", ...over });
const binding = (w: ApprovalsWorld, id: string, over: Record<string, unknown> = {}) => ({
  teamId: w.team.id,
  id,
  linkId: w.link.id,
  statementHash: statementHash("DELETE FROM invoice WHERE invoice_id = $1", [100]),
  principalSubject: "key:abc",
  userId: w.requester.id,
  catalogVersion: "cat-1",
  ...over,
});

describe("write requests", () => {
  it("creates a pending request with its notification row, on a pg pool and on Prisma alike", async () => {
    const w = await approvalsWorld(prisma);
    const viaPool = await newRequest(pool, w);
    const viaPrisma = await newRequest(prisma, w, { params: [101] });
    for (const r of [viaPool, viaPrisma]) {
      expect(r.status).toBe("pending");
      expect(r.teamId).toBe(w.team.id);
      expect(r.preview).toMatchObject({ command: "DELETE", affected: 1 });
      expect(r.expiresAt).toBeInstanceOf(Date);
      expect((await outbox(r.id)).map((o) => o.event)).toEqual(["write_request.created"]);
    }
    expect(viaPool.statementHash).toBe(statementHash("DELETE FROM invoice WHERE invoice_id = $1", [100]));
    expect(viaPrisma.params).toEqual([101]);
    const listed = await listWriteRequests(prisma, { teamId: w.team.id, status: ["pending"] });
    expect(listed.map((r) => r.id).sort()).toEqual([viaPool.id, viaPrisma.id].sort());
    expect(listed[0]).toMatchObject({ linkName: "l1", requesterEmail: w.requester.email, deciderEmail: null });
    expect(await getWriteRequest(pool, { teamId: w.team.id, id: viaPool.id })).toMatchObject({ id: viaPool.id, sql: viaPool.sql });
  });

  it("refuses a link of another team at creation and reads another team's request as absent", async () => {
    const w = await approvalsWorld(prisma);
    expect(await refusal(newRequest(prisma, w, { linkId: w.otherLink.id }))).toBe("not_found");
    const r = await newRequest(prisma, w);
    expect(await getWriteRequest(prisma, { teamId: w.otherTeam.id, id: r.id })).toBeNull();
    expect(await listWriteRequests(prisma, { teamId: w.otherTeam.id })).toEqual([]);
    // Another team's owner deciding with their own team id: not found, nothing changes.
    expect(await refusal(decideWriteRequest(prisma, { teamId: w.otherTeam.id, id: r.id, deciderId: w.stranger.id, decision: "approve", via: "dashboard" }))).toBe("not_found");
    expect(await refusal(decideWriteRequest(prisma, { teamId: w.team.id, id: r.id, deciderId: w.stranger.id, decision: "approve", via: "dashboard" }))).toBe("not_approver");
    expect((await getWriteRequest(prisma, { teamId: w.team.id, id: r.id }))!.status).toBe("pending");
  });

  it("an approval is audited (config_change with writeRequestId and the comment) and notified, with execute_before set", async () => {
    const w = await approvalsWorld(prisma, { approvalOptions: { expiresAfterMinutes: 30 } });
    const r = await newRequest(prisma, w);
    const approved = await decide(w, r.id, w.approver.id, "approve", { comment: "ok for the refund" });
    expect(approved).toMatchObject({ status: "approved", decidedBy: w.approver.id, decisionComment: "ok for the refund" });
    const minutes = (approved.executeBefore!.getTime() - approved.decidedAt!.getTime()) / 60_000;
    expect(minutes).toBeCloseTo(30, 3);
    const events = await audits(r.id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ kind: "config_change", tool: "write_request.approved", userId: w.approver.id, writeRequestId: r.id });
    expect(JSON.parse(String(events[0]!.detail))).toMatchObject({ action: "write_request.approved", target: { type: "write_request", id: r.id }, comment: "ok for the refund" });
    expect((await outbox(r.id)).map((o) => o.event)).toEqual(["write_request.created", "write_request.decided"]);
    // Decided once: a second decision loses and names who decided.
    const error = await decide(w, r.id, w.owner.id, "reject").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(WriteRequestDecisionError);
    expect((error as WriteRequestDecisionError).code).toBe("already_decided");
    expect((error as Error).message).toContain(w.approver.email);
    expect(await audits(r.id)).toHaveLength(1);
  });

  it("who may decide: owners, admins and listed approvers; not viewers (even listed), not unlisted members", async () => {
    const w = await approvalsWorld(prisma);
    const may = (userId: string) => mayApprove(pool, { teamId: w.team.id, linkId: w.link.id, userId });
    expect(await Promise.all([w.owner, w.admin, w.approver, w.viewer, w.requester, w.stranger].map((u) => may(u.id)))).toEqual([true, true, true, false, false, false]);
    expect(await mayApprove(pool, { teamId: w.otherTeam.id, linkId: w.link.id, userId: w.stranger.id })).toBe(false);
    const r = await newRequest(prisma, w);
    expect(await refusal(decide(w, r.id, w.viewer.id, "approve"))).toBe("not_approver");
    expect(await refusal(decide(w, r.id, w.viewer.id, "reject"))).toBe("not_approver");
    // A listed approver demoted to viewer stops deciding at once.
    await prisma.membership.update({ where: { teamId_userId: { teamId: w.team.id, userId: w.approver.id } }, data: { role: "viewer" } });
    expect(await refusal(decide(w, r.id, w.approver.id, "approve"))).toBe("not_approver");
    expect((await getWriteRequest(prisma, { teamId: w.team.id, id: r.id }))!.status).toBe("pending");
    expect(await decide(w, r.id, w.admin.id, "reject", { comment: "no" })).toMatchObject({ status: "rejected", executeBefore: null });
  });

  it("self-approval is refused unless the link's current scope allows it", async () => {
    const w = await approvalsWorld(prisma);
    await prisma.linkApprover.create({ data: { linkId: w.link.id, userId: w.requester.id } });
    const r = await newRequest(prisma, w);
    expect(await refusal(decide(w, r.id, w.requester.id, "approve"))).toBe("own_request");
    // An option the schema does not know reads as the defaults: still refused.
    const scope = (await prisma.link.findUniqueOrThrow({ where: { id: w.link.id } })).scope as Record<string, unknown>;
    await prisma.link.update({ where: { id: w.link.id }, data: { scope: { ...scope, approvalOptions: { selfApproval: true, typo: 1 } } } });
    expect(await refusal(decide(w, r.id, w.requester.id, "approve"))).toBe("own_request");
    await prisma.link.update({ where: { id: w.link.id }, data: { scope: { ...scope, approvalOptions: { selfApproval: true } } } });
    expect((await decide(w, r.id, w.requester.id, "approve")).status).toBe("approved");
  });

  it("a confirmation is confirmed by its requester only; an approver may reject it; the client cannot approve an approval", async () => {
    const w = await approvalsWorld(prisma);
    const c = await newRequest(prisma, w, { kind: "confirm", mode: "confirm" });
    expect(await refusal(decide(w, c.id, w.owner.id, "approve"))).toBe("not_confirmable");
    expect((await decide(w, c.id, w.requester.id, "approve", { via: "client" })).status).toBe("approved");
    const c2 = await newRequest(prisma, w, { kind: "confirm", mode: "confirm" });
    expect((await decide(w, c2.id, w.approver.id, "reject")).status).toBe("rejected");
    const a = await newRequest(prisma, w);
    expect(await refusal(decide(w, a.id, w.owner.id, "approve", { via: "client" }))).toBe("not_confirmable");
  });

  it("ten approvers at once: exactly one wins, one audit record, one decided notification", async () => {
    const w = await approvalsWorld(prisma);
    const r = await newRequest(pool, w);
    const deciders = [w.owner, w.admin, w.approver, w.owner, w.admin, w.approver, w.owner, w.admin, w.approver, w.owner];
    const results = await Promise.allSettled(
      deciders.map((u, i) => decideWriteRequest(i % 2 ? pool : prisma, { teamId: w.team.id, id: r.id, deciderId: u.id, decision: i % 3 ? "approve" : "reject", via: "cli" })),
    );
    const won = results.filter((x) => x.status === "fulfilled");
    expect(won).toHaveLength(1);
    const lost = results.filter((x): x is PromiseRejectedResult => x.status === "rejected");
    expect(lost.map((x) => (x.reason as WriteRequestDecisionError).code)).toEqual(Array(9).fill("already_decided"));
    expect(await audits(r.id)).toHaveLength(1);
    expect((await outbox(r.id)).filter((o) => o.event === "write_request.decided")).toHaveLength(1);
  });

  it("approval racing expiry: the database clock decides, never both approved and expired", async () => {
    const w = await approvalsWorld(prisma);
    const outcomes = { approved: 0, expired: 0 };
    for (let i = 0; i < 12; i++) {
      const r = await newRequest(pool, w);
      // The expiry on the database's clock, then decisions from well before it to well after it.
      await pool.query("UPDATE write_requests SET expires_at = clock_timestamp() + interval '300 milliseconds' WHERE id = $1::uuid", [r.id]);
      await new Promise((res) => setTimeout(res, i * 50));
      const [decision, swept] = await Promise.allSettled([decide(w, r.id, w.owner.id, "approve"), expireWriteRequests(pool)]);
      const row = (await getWriteRequest(pool, { teamId: w.team.id, id: r.id }))!;
      if (decision.status === "fulfilled") {
        expect(row.status).toBe("approved");
        outcomes.approved++;
      } else {
        expect((decision.reason as WriteRequestDecisionError).code).toBe("expired");
        expect(row.status).toBe("expired");
        outcomes.expired++;
      }
      expect(swept.status).toBe("fulfilled");
      expect((await audits(r.id)).length).toBe(row.status === "approved" ? 1 : 0);
    }
    expect(outcomes.approved + outcomes.expired).toBe(12);
    // Both sides of the boundary were exercised (0 ms after: approved; 550 ms after: expired).
    expect(outcomes.approved).toBeGreaterThan(0);
    expect(outcomes.expired).toBeGreaterThan(0);
    console.log(`approval vs expiry at the boundary: ${outcomes.approved} approved, ${outcomes.expired} expired`);
  });

  it("claim binds link, statement, key, member and catalog; once; then finish records the outcome", async () => {
    const w = await approvalsWorld(prisma);
    const r = await newRequest(pool, w);
    expect(await claimWriteRequest(pool, binding(w, r.id))).toMatchObject({ ok: false, code: "not_approved" });
    await decide(w, r.id, w.owner.id, "approve");
    for (const over of [
      { statementHash: statementHash("DELETE FROM invoice WHERE invoice_id = $1", [101]) },
      { principalSubject: "key:other" },
      { userId: w.admin.id },
      { userId: null },
      { linkId: w.otherLink.id },
    ]) {
      const result = await claimWriteRequest(pool, binding(w, r.id, over));
      expect(result).toEqual({ ok: false, code: "mismatch" });
    }
    expect(await claimWriteRequest(pool, binding(w, r.id, { teamId: w.otherTeam.id }))).toEqual({ ok: false, code: "not_found" });
    expect(await claimWriteRequest(pool, binding(w, r.id, { catalogVersion: "cat-2" }))).toMatchObject({ ok: false, code: "schema_changed" });
    const both = await Promise.all([claimWriteRequest(pool, binding(w, r.id)), claimWriteRequest(prisma, binding(w, r.id))]);
    expect(both.filter((b) => b.ok)).toHaveLength(1);
    expect(both.find((b) => !b.ok)).toMatchObject({ code: "used" });
    await finishWriteRequest(pool, { teamId: w.team.id, id: r.id, outcome: { ok: true, result: { rowCount: 1, text: "nul\u0000" } }, executionAuditId: null });
    const done = (await getWriteRequest(pool, { teamId: w.team.id, id: r.id }))!;
    expect(done).toMatchObject({ status: "executed", result: { rowCount: 1, text: "nul\ufffd" }, error: null });
    expect(await refusal(finishWriteRequest(pool, { teamId: w.team.id, id: r.id, outcome: { ok: false, error: "again" } }))).toBe("not_executing");
    expect(await claimWriteRequest(pool, binding(w, r.id))).toMatchObject({ ok: false, code: "used" });
  });

  it("an approved request past execute_before cannot be claimed and is swept to expired", async () => {
    const w = await approvalsWorld(prisma);
    const r = await newRequest(pool, w);
    await decide(w, r.id, w.owner.id, "approve");
    await prisma.$executeRawUnsafe("UPDATE write_requests SET execute_before = now() - interval '1 second' WHERE id = $1::uuid", r.id);
    expect(await claimWriteRequest(pool, binding(w, r.id))).toMatchObject({ ok: false, code: "expired" });
    expect((await getWriteRequest(pool, { teamId: w.team.id, id: r.id }))!.status).toBe("expired");
    const r2 = await newRequest(pool, w);
    await decide(w, r2.id, w.owner.id, "approve");
    await prisma.$executeRawUnsafe("UPDATE write_requests SET execute_before = now() - interval '1 second' WHERE id = $1::uuid", r2.id);
    expect(await expireWriteRequests(pool)).toBeGreaterThanOrEqual(1);
    expect((await getWriteRequest(pool, { teamId: w.team.id, id: r2.id }))!.status).toBe("expired");
    expect(await claimWriteRequest(pool, binding(w, r2.id))).toMatchObject({ ok: false, code: "expired" });
  });

  it("setLinkApprovers replaces the list with members (not viewers, not other teams' users), audited", async () => {
    const w = await approvalsWorld(prisma);
    const set = (userIds: string[]) => setLinkApprovers(pool, { teamId: w.team.id, linkId: w.link.id, userIds, actorUserId: w.owner.id, via: "dashboard" });
    expect((await set([w.requester.id, w.approver.id])).map((a) => a.email)).toEqual([w.approver.email, w.requester.email].sort());
    expect(await refusal(set([w.viewer.id]))).toBe("forbidden");
    expect(await refusal(set([w.stranger.id]))).toBe("not_found");
    expect(await refusal(setLinkApprovers(pool, { teamId: w.otherTeam.id, linkId: w.link.id, userIds: [] }))).toBe("not_found");
    expect((await listLinkApprovers(pool, { teamId: w.team.id, linkId: w.link.id })).map((a) => a.userId).sort()).toEqual([w.approver.id, w.requester.id].sort());
    expect(await set([])).toEqual([]);
    const changes = (await prisma.auditOutbox.findMany({ where: { teamId: w.team.id } })).map((e) => JSON.parse(e.event) as { tool: string; detail: string }).filter((e) => e.tool === "link.approvers.update");
    expect(changes.map((c) => (JSON.parse(c.detail) as { after: string[] }).after)).toEqual([[w.approver.email, w.requester.email].sort(), []]);
  });

  it("zod refuses what a web form could send instead of plain values", async () => {
    const w = await approvalsWorld(prisma);
    const r = await newRequest(prisma, w);
    const bad: unknown[] = [
      { teamId: w.team.id, id: r.id, deciderId: w.owner.id, decision: ["approve"], via: "dashboard" },
      { teamId: w.team.id, id: { $ne: null }, deciderId: w.owner.id, decision: "approve", via: "dashboard" },
      { teamId: w.team.id, id: r.id, deciderId: w.owner.id, decision: "approve", via: "dashboard", comment: { toString: "x" } },
      { teamId: w.team.id, id: r.id, deciderId: w.owner.id, decision: "approve", via: "dashboard", comment: "x".repeat(2001) },
      { teamId: w.team.id, id: r.id, deciderId: w.owner.id, decision: "approve", via: "dashboard", status: "approved" },
      { teamId: [w.team.id], id: r.id, deciderId: w.owner.id, decision: "approve", via: "dashboard" },
    ];
    for (const input of bad) expect(await refusal(decideWriteRequest(prisma, input as never))).toBe("invalid_input");
    expect(await refusal(listWriteRequests(prisma, { teamId: w.team.id, status: ["pending'; --"] } as never))).toBe("invalid_input");
    expect(await refusal(newRequest(prisma, w, { sql: "" }))).toBe("invalid_input");
    expect(await refusal(newRequest(prisma, w, { ...requestInput(w), kind: "auto" as never }))).toBe("invalid_input");
    expect((await getWriteRequest(prisma, { teamId: w.team.id, id: r.id }))!.status).toBe("pending");
  });
});
