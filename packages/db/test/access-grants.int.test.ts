import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient, type PrismaClient } from "../src/client.js";
import { PortcullisError } from "../src/errors.js";
import {
  AccessGrantError,
  activeAccessGrants,
  decideAccessGrant,
  expireAccessGrants,
  listAccessGrants,
  requestAccessGrant,
  revokeAccessGrant,
} from "../src/operations/index.js";
import { createMetadataDatabase, type TestDatabase } from "../src/testing/index.js";
import { approvalsWorld, poolFor, type ApprovalsWorld } from "./support/approvals-world.js";

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
  if (error instanceof AccessGrantError || error instanceof PortcullisError) return error.code;
  throw new Error(`expected a typed refusal, got ${String(error)}`);
}

const ask = (w: ApprovalsWorld, over: Record<string, unknown> = {}) =>
  requestAccessGrant(pool, {
    teamId: w.team.id,
    linkId: w.link.id,
    userId: w.requester.id,
    tableKey: "public.invoice",
    access: "write",
    minutes: 30,
    reason: "fix the refund of invoice 100",
    via: "tool",
    requestedBy: w.requester.id,
    ...over,
  });
const active = (w: ApprovalsWorld, userId = w.requester.id) => activeAccessGrants(pool, { linkId: w.link.id, userId });
const configEvents = async (accessGrantId: string) =>
  (await prisma.auditOutbox.findMany()).map((r) => JSON.parse(r.event) as Record<string, unknown>).filter((e) => e.accessGrantId === accessGrantId);

describe("access grants", () => {
  it("request (deduplicated), grant, in force for its minutes, revoke early — each decision audited and notified", async () => {
    const w = await approvalsWorld(prisma);
    const [a, b] = await Promise.all([ask(w), ask(w)]);
    expect(a.id).toBe(b.id);
    expect(a).toMatchObject({ status: "pending", tableKey: "public.invoice", access: "write", minutes: 30, startsAt: null });
    const other = await ask(w, { access: "read" });
    expect(other.id).not.toBe(a.id);
    expect(await active(w)).toEqual([]);
    const granted = await decideAccessGrant(prisma, { teamId: w.team.id, id: a.id, deciderId: w.approver.id, decision: "grant", comment: "30 minutes" });
    expect(granted.status).toBe("granted");
    expect((granted.expiresAt!.getTime() - granted.startsAt!.getTime()) / 60_000).toBeCloseTo(30, 3);
    expect(await active(w)).toEqual([{ id: a.id, tableKey: "public.invoice", access: "write", expiresAt: granted.expiresAt }]);
    // A member may hold several grants.
    await decideAccessGrant(pool, { teamId: w.team.id, id: other.id, deciderId: w.owner.id, decision: "grant" });
    expect((await active(w)).map((g) => g.id).sort()).toEqual([a.id, other.id].sort());
    expect((await configEvents(a.id)).map((e) => e.tool)).toEqual(["access_grant.granted"]);
    expect((await prisma.notificationOutbox.findMany({ where: { subjectId: a.id } })).map((o) => o.event).sort()).toEqual(["access_grant.decided", "access_grant.requested"]);
    const revoked = await revokeAccessGrant(pool, { teamId: w.team.id, id: a.id, revokerId: w.admin.id, via: "cli" });
    expect(revoked).toMatchObject({ status: "revoked", revokedBy: w.admin.id });
    expect((await active(w)).map((g) => g.id)).toEqual([other.id]);
    expect(await refusal(revokeAccessGrant(pool, { teamId: w.team.id, id: a.id, revokerId: w.admin.id }))).toBe("not_active");
    expect((await configEvents(a.id)).map((e) => e.tool)).toEqual(["access_grant.granted", "access_grant.revoked"]);
    const listed = await listAccessGrants(prisma, { teamId: w.team.id, linkId: w.link.id });
    expect(listed.map((g) => [g.id, g.status, g.userEmail])).toEqual(
      expect.arrayContaining([
        [a.id, "revoked", w.requester.email],
        [other.id, "granted", w.requester.email],
      ]),
    );
  });

  it("who decides: approvers only, not the requester without selfApproval, not viewers; one winner among ten", async () => {
    const w = await approvalsWorld(prisma);
    await prisma.linkApprover.create({ data: { linkId: w.link.id, userId: w.requester.id } });
    const g = await ask(w);
    expect(await refusal(decideAccessGrant(pool, { teamId: w.team.id, id: g.id, deciderId: w.viewer.id, decision: "grant" }))).toBe("not_approver");
    expect(await refusal(decideAccessGrant(pool, { teamId: w.team.id, id: g.id, deciderId: w.requester.id, decision: "grant" }))).toBe("own_request");
    expect(await refusal(decideAccessGrant(pool, { teamId: w.otherTeam.id, id: g.id, deciderId: w.stranger.id, decision: "grant" }))).toBe("not_found");
    const deciders = [w.owner, w.admin, w.approver, w.owner, w.admin, w.approver, w.owner, w.admin, w.approver, w.owner];
    const results = await Promise.allSettled(deciders.map((u, i) => decideAccessGrant(i % 2 ? pool : prisma, { teamId: w.team.id, id: g.id, deciderId: u.id, decision: i % 3 ? "grant" : "refuse" })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(1);
    expect(results.filter((r) => r.status === "rejected").map((r) => ((r as PromiseRejectedResult).reason as AccessGrantError).code)).toEqual(Array(9).fill("already_decided"));
    expect(await configEvents(g.id)).toHaveLength(1);
  });

  it("a grant lapses at its end, and a member who loses the link holds nothing", async () => {
    const w = await approvalsWorld(prisma);
    const g = await ask(w);
    await decideAccessGrant(pool, { teamId: w.team.id, id: g.id, deciderId: w.owner.id, decision: "grant" });
    expect(await active(w)).toHaveLength(1);
    expect(await activeAccessGrants(pool, { linkId: w.link.id, userId: w.requester.id, now: new Date(Date.now() + 31 * 60_000) })).toEqual([]);
    expect(await activeAccessGrants(pool, { linkId: w.link.id, userId: w.requester.id, teamId: w.otherTeam.id })).toEqual([]);
    await prisma.linkAccess.delete({ where: { linkId_userId: { linkId: w.link.id, userId: w.requester.id } } });
    expect(await active(w)).toEqual([]);
    await prisma.linkAccess.create({ data: { linkId: w.link.id, userId: w.requester.id } });
    expect(await active(w)).toHaveLength(1);
    expect(await expireAccessGrants(pool, new Date(Date.now() + 31 * 60_000))).toBeGreaterThanOrEqual(1);
    expect(await active(w)).toEqual([]);
    expect(await refusal(revokeAccessGrant(pool, { teamId: w.team.id, id: g.id, revokerId: w.owner.id }))).toBe("not_active");
  });

  it("requests from someone who does not use the link, a viewer, or another team's link are refused; zod refuses the rest", async () => {
    const w = await approvalsWorld(prisma);
    expect(await refusal(ask(w, { userId: w.viewer.id }))).toBe("not_member");
    expect(await refusal(ask(w, { userId: w.approver.id }))).toBe("not_member");
    expect(await refusal(ask(w, { userId: w.stranger.id }))).toBe("not_member");
    expect(await refusal(ask(w, { linkId: w.otherLink.id }))).toBe("not_found");
    for (const over of [
      { tableKey: "invoice" },
      { tableKey: 'public."invoice"' },
      { access: "owner" },
      { access: ["write"] },
      { minutes: 0 },
      { minutes: 10_081 },
      { minutes: 1.5 },
      { reason: "" },
      { reason: "x".repeat(2001) },
      { reason: { length: 3 } },
      { via: "api" },
      { status: "granted" },
    ]) {
      expect(await refusal(ask(w, over)), JSON.stringify(over)).toBe("invalid_input");
    }
    expect(await prisma.accessGrant.count({ where: { teamId: w.team.id } })).toBe(0);
  });

  it("a pending request past its wait cannot be granted", async () => {
    const w = await approvalsWorld(prisma);
    const g = await ask(w);
    await prisma.$executeRawUnsafe("UPDATE access_grants SET request_expires_at = now() - interval '1 second' WHERE id = $1::uuid", g.id);
    expect(await refusal(decideAccessGrant(pool, { teamId: w.team.id, id: g.id, deciderId: w.owner.id, decision: "grant" }))).toBe("expired");
    expect(await expireAccessGrants(pool)).toBeGreaterThanOrEqual(1);
    expect((await listAccessGrants(pool, { teamId: w.team.id, status: ["expired"] })).map((x) => x.id)).toContain(g.id);
    // A new request is a new row, not the lapsed one.
    expect((await ask(w)).id).not.toBe(g.id);
  });
});
