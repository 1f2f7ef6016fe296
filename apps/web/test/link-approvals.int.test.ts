import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createActionWorld, loadActions, type ActionWorld, type Result, type Who } from "./support/action-world";

/**
 * The link page's Approvals tab through its real server actions: naming approvers (owners and admins
 * only) and deciding access requests (owners, admins and the link's named approvers). Judged by the
 * rows of link_approvers and access_grants before and after, never by the answer alone.
 */
// Each call runs in its own async context holding its caller's session, so concurrent calls stay apart.
const jar = vi.hoisted(() => ({ store: undefined as { getStore(): string | undefined } | undefined }));
vi.mock("next/headers", () => ({
  cookies: async () => {
    const token = jar.store?.getStore();
    return {
      getAll: () => (token ? [{ name: "next-auth.session-token", value: token }] : []),
      get: (name: string) => (token && name === "next-auth.session-token" ? { name, value: token } : undefined),
    };
  },
  headers: async () => new Headers({ "user-agent": "vitest approvals", "x-real-ip": "203.0.113.8" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));

let world: ActionWorld;
let actions: Record<string, (input: unknown) => Promise<Result>>;

const sessions = new AsyncLocalStorage<string>();
jar.store = sessions;

function call(who: Who, name: string, input: unknown): Promise<Result> {
  return sessions.run(world.tokens[who], () => actions[name]!(input));
}

const approvers = async (linkId = world.linkA) => (await world.prisma.linkApprover.findMany({ where: { linkId }, orderBy: { userId: "asc" } })).map((a) => a.userId);
const grantRow = (id: string) => world.prisma.accessGrant.findUniqueOrThrow({ where: { id } });

// Requests come from the gateway's request_access tool in the product: made here on a pg.Pool, as it does.
let pool: pg.Pool;

async function request(who: Who, table = "public.playlist", access: "read" | "write" | "admin" = "write", minutes = 30) {
  const { requestAccessGrant } = await import("@portcullis/db/operations");
  return requestAccessGrant(pool, { teamId: world.teamA, linkId: world.linkA, userId: world.users[who], tableKey: table, access, minutes, reason: `needs ${table}`, via: "tool" });
}

beforeAll(async () => {
  world = await createActionWorld("appr");
  pool = new pg.Pool({ connectionString: world.meta.url, max: 2 });
  actions = await loadActions([path.join(__dirname, "../src/features/links/actions.ts"), path.join(__dirname, "../src/features/access-grants/actions.ts")]);
}, 180_000);

afterAll(async () => {
  await pool?.end();
  await world?.drop();
});

describe("setLinkApproversAction", () => {
  test("an owner or admin names members; the change is audited; below admin, refused with nothing written", async () => {
    expect(await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.approver] })).toMatchObject({ ok: true, data: [world.users.approver] });
    expect(await approvers()).toEqual([world.users.approver]);
    const audit = await world.prisma.auditOutbox.findMany({ where: { teamId: world.teamA } });
    expect(audit.some((row) => String(row.event).includes("link.approvers.update"))).toBe(true);

    for (const who of ["member", "approver", "viewer"] as const) {
      expect(await call(who, "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users[who]] }), who).toMatchObject({ ok: false, code: "forbidden" });
    }
    expect(await approvers()).toEqual([world.users.approver]);

    // An admin may name two, and empty the list again later.
    const both = [world.users.approver, world.users.member].sort();
    expect(await call("admin", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: both })).toMatchObject({ ok: true });
    expect(await approvers()).toEqual(both);
    expect(await call("admin", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.approver] })).toMatchObject({ ok: true });
    expect(await approvers()).toEqual([world.users.approver]);
  });

  test("viewers and strangers cannot be named; other teams' links and ids read as not found; inputs are strict", async () => {
    const before = await approvers();
    expect(await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.viewer] })).toMatchObject({ ok: false, code: "forbidden" });
    expect(await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.outsider] })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkB, userIds: [] })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("outsider", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.outsider] })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("outsider", "setLinkApproversAction", { teamId: world.teamB, linkId: world.linkA, userIds: [world.users.outsider] })).toMatchObject({ ok: false, code: "not_found" });
    const valid = { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.member] };
    const tooMany = Array.from({ length: 101 }, () => randomUUID());
    for (const bad of [{ userIds: world.users.member }, { userIds: [{ not: world.users.member }] }, { userIds: tooMany }, { userIds: null }, { linkId: { in: [] } }, { extra: true }]) {
      expect(await call("owner", "setLinkApproversAction", { ...valid, ...bad }), JSON.stringify(bad).slice(0, 60)).toMatchObject({ ok: false, code: "invalid_input" });
    }
    expect(await approvers()).toEqual(before);
  });
});

describe("access grants: decide and revoke", () => {
  test("the named approver grants; a member who is not one, a viewer and another team cannot; the loser of a second decision hears it was decided", async () => {
    await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.approver] });
    const asked = await request("member");
    const decide = (who: Who, extra: Record<string, unknown> = {}) => call(who, "decideAccessGrantAction", { teamId: world.teamA, grantId: asked.id, decision: "grant", ...extra });

    expect(await decide("viewer")).toMatchObject({ ok: false, code: "forbidden" });
    expect(await decide("outsider")).toMatchObject({ ok: false, code: "not_found" });
    expect(await decide("outsider", { teamId: world.teamB })).toMatchObject({ ok: false, code: "not_found" });
    // The member asked for it; deciding it is not theirs (they are no approver of the link).
    expect(await decide("member")).toMatchObject({ ok: false, code: "forbidden" });
    expect(await decide("approver", { decision: "refuse" })).toMatchObject({ ok: false, code: "invalid_input" });
    expect(await decide("approver", { comment: { toString: "x" } })).toMatchObject({ ok: false, code: "invalid_input" });
    expect((await grantRow(asked.id)).status).toBe("pending");

    const started = Date.now();
    expect(await decide("approver", { comment: "for the playlist import" })).toMatchObject({ ok: true, data: { id: asked.id, status: "granted" } });
    const granted = await grantRow(asked.id);
    expect(granted).toMatchObject({ status: "granted", decidedBy: world.users.approver, decisionComment: "for the playlist import" });
    expect(granted.expiresAt!.getTime() - started).toBeGreaterThan(29 * 60_000);
    expect(granted.expiresAt!.getTime() - started).toBeLessThan(31 * 60_000);

    const again = await call("admin", "decideAccessGrantAction", { teamId: world.teamA, grantId: asked.id, decision: "refuse", comment: "no" });
    expect(again).toMatchObject({ ok: false, code: "conflict" });
    expect((again as { error: string }).error).toMatch(/already decided/i);
    expect((await grantRow(asked.id)).status).toBe("granted");
  });

  test("two approvers at once: exactly one decision stands", async () => {
    const asked = await request("member", "public.invoice", "admin", 15);
    await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [world.users.approver] });
    const results = await Promise.all([
      call("approver", "decideAccessGrantAction", { teamId: world.teamA, grantId: asked.id, decision: "grant" }),
      call("admin", "decideAccessGrantAction", { teamId: world.teamA, grantId: asked.id, decision: "refuse", comment: "not today" }),
      call("owner", "decideAccessGrantAction", { teamId: world.teamA, grantId: asked.id, decision: "grant" }),
    ]);
    expect(results.filter((r) => r.ok)).toHaveLength(1);
    for (const lost of results.filter((r) => !r.ok)) expect(lost).toMatchObject({ ok: false, code: "conflict" });
    const row = await grantRow(asked.id);
    const winner = results.findIndex((r) => r.ok);
    expect(row.status).toBe(winner === 1 ? "refused" : "granted");
    expect(row.decidedBy).toBe([world.users.approver, world.users.admin, world.users.owner][winner]);
  });

  test("an approver cannot grant their own request (an admin can); removed from the list, they decide nothing", async () => {
    const own = await request("approver", "public.playlist", "write", 10);
    expect(await call("approver", "decideAccessGrantAction", { teamId: world.teamA, grantId: own.id, decision: "grant" })).toMatchObject({ ok: false, code: "forbidden" });
    expect((await grantRow(own.id)).status).toBe("pending");
    expect(await call("admin", "decideAccessGrantAction", { teamId: world.teamA, grantId: own.id, decision: "grant" })).toMatchObject({ ok: true, data: { status: "granted" } });

    const next = await request("member", "public.playlist", "admin", 10);
    await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [] });
    expect(await call("approver", "decideAccessGrantAction", { teamId: world.teamA, grantId: next.id, decision: "grant" })).toMatchObject({ ok: false, code: "forbidden" });
    expect((await grantRow(next.id)).status).toBe("pending");
  });

  test("revoke: approvers and the holder end a grant early; others cannot; a second revoke is a conflict", async () => {
    await call("owner", "setLinkApproversAction", { teamId: world.teamA, linkId: world.linkA, userIds: [] });
    const asked = await request("member", "public.album", "write", 60);
    expect(await call("owner", "decideAccessGrantAction", { teamId: world.teamA, grantId: asked.id, decision: "grant" })).toMatchObject({ ok: true });
    // The approver (no longer named) and a viewer may not end the member's grant.
    expect(await call("approver", "revokeAccessGrantAction", { teamId: world.teamA, grantId: asked.id })).toMatchObject({ ok: false, code: "forbidden" });
    expect(await call("viewer", "revokeAccessGrantAction", { teamId: world.teamA, grantId: asked.id })).toMatchObject({ ok: false, code: "forbidden" });
    expect(await call("outsider", "revokeAccessGrantAction", { teamId: world.teamB, grantId: asked.id })).toMatchObject({ ok: false, code: "not_found" });
    expect((await grantRow(asked.id)).status).toBe("granted");
    expect(await call("admin", "revokeAccessGrantAction", { teamId: world.teamA, grantId: asked.id })).toMatchObject({ ok: true, data: { status: "revoked" } });
    expect(await grantRow(asked.id)).toMatchObject({ status: "revoked", revokedBy: world.users.admin });
    expect(await call("admin", "revokeAccessGrantAction", { teamId: world.teamA, grantId: asked.id })).toMatchObject({ ok: false, code: "conflict" });

    // The holder gives up their own grant.
    const mine = await request("member", "public.album", "admin", 60);
    await call("owner", "decideAccessGrantAction", { teamId: world.teamA, grantId: mine.id, decision: "grant" });
    expect(await call("member", "revokeAccessGrantAction", { teamId: world.teamA, grantId: mine.id })).toMatchObject({ ok: true, data: { status: "revoked" } });
  });

  test("the link page's list: those who decide read it; a member who does not is refused", async () => {
    const { resolveTeam } = await import("../src/lib/authz");
    const { linkAccessGrants } = await import("../src/features/access-grants/operations");
    const owner = await linkAccessGrants(await resolveTeam({ userId: world.users.owner }, world.teamA), world.linkA);
    const rows = await world.prisma.accessGrant.findMany({ where: { linkId: world.linkA } });
    expect(owner.map((g) => g.id).sort()).toEqual(rows.map((r) => r.id).sort());
    expect(owner.every((g) => g.member.includes("@example.com"))).toBe(true);
    await expect(linkAccessGrants(await resolveTeam({ userId: world.users.member }, world.teamA), world.linkA)).rejects.toMatchObject({ code: "forbidden" });
    await expect(linkAccessGrants(await resolveTeam({ userId: world.users.viewer }, world.teamA), world.linkA)).rejects.toMatchObject({ code: "not_found" });
    await expect(linkAccessGrants(await resolveTeam({ userId: world.users.owner }, world.teamA), world.linkB)).rejects.toMatchObject({ code: "not_found" });
  });
});
