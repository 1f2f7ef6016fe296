import { randomBytes, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { createChinookDatabase, createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * The approval queue's server actions and page data, called as the browser calls them (a real
 * next-auth JWT for a real session row; only Next's request plumbing is replaced), against real
 * PostgreSQL: who sees which request, who may decide it, races between two deciders and with the
 * expiry, other tenants' ids. Judged by the rows: status, decider, audit outbox.
 */
// Each call carries its own session (AsyncLocalStorage): the race tests run two callers at once.
const jar = vi.hoisted(() => {
  const { AsyncLocalStorage } = process.getBuiltinModule("node:async_hooks") as typeof import("node:async_hooks");
  return { als: new AsyncLocalStorage<string>() };
});
vi.mock("next/headers", () => ({
  cookies: async () => {
    const token = jar.als.getStore();
    return {
      getAll: () => (token ? [{ name: "next-auth.session-token", value: token }] : []),
      get: (name: string) => (token && name === "next-auth.session-token" ? { name, value: token } : undefined),
    };
  },
  headers: async () => new Headers({ "user-agent": "vitest approvals", "x-real-ip": "203.0.113.9" }),
}));
vi.mock("next/cache", () => ({ revalidatePath: () => {}, revalidateTag: () => {} }));
// The page's decision forms ask for the router while rendering; outside a mounted app router, a stand-in.
vi.mock("next/navigation", async (original) => ({ ...(await original<typeof import("next/navigation")>()), useRouter: () => ({ refresh() {}, push() {}, replace() {}, prefetch() {}, back() {}, forward() {} }) }));

type Who = "owner" | "admin" | "approver" | "member" | "viewer" | "outsider";
type Result = { ok: true; data: unknown } | { ok: false; code: string; error: string; fieldErrors?: Record<string, string> };

let meta: TestDatabase;
let chinook: TestDatabase;
let prisma: import("@portcullis/db/client").PrismaClient;
const users = {} as Record<Who, string>;
const tokens = {} as Record<Who, string>;
let teamA: string;
let teamB: string;
let linkA: string;
let actions: typeof import("../src/features/approvals/actions") & typeof import("../src/features/access-grants/actions");
let ops: typeof import("../src/features/approvals/operations");
let resolveTeam: typeof import("../src/lib/authz").resolveTeam;

const PREVIEW = {
  command: "delete", affected: 2, table: "public.invoice_line", columns: ["invoice_line_id", "unit_price"], keyColumns: ["invoice_line_id"],
  before: [[1, "0.99"], [2, "0.99"]], after: [], plan: null, notes: [], durationMs: 2,
};

async function call<K extends keyof typeof actions>(who: Who, name: K, input: unknown): Promise<Result> {
  return jar.als.run(tokens[who], () => (actions[name] as unknown as (i: unknown) => Promise<Result>)(input));
}

/** The hash the gateway stores with a request: of the link's parsed scope as it is now. */
async function currentScopeHash(linkId = linkA): Promise<string> {
  const { parseScope, scopeHash } = await import("@portcullis/policy/scope");
  const parsed = parseScope((await prisma.link.findUniqueOrThrow({ where: { id: linkId } })).scope);
  if (!parsed.ok) throw new Error("the link's scope does not parse");
  return scopeHash(parsed.scope);
}

/** A pending request as the gateway stores it after the dry run, made by `who` on link A. */
async function pending(who: Who = "member", over: { kind?: "approval" | "confirm"; expiresInMs?: number; preview?: unknown } = {}) {
  const { createWriteRequest } = await import("@portcullis/db/operations");
  const row = await createWriteRequest(prisma, {
    teamId: teamA, linkId: linkA, kind: over.kind ?? "approval", mode: over.kind === "confirm" ? "confirm" : "writes", tables: ["public.invoice_line"],
    reason: "public.invoice_line requires a lead's approval for every write (approval: writes)", sql: "DELETE FROM invoice_line WHERE invoice_line_id IN (1, 2)",
    params: [], catalogVersion: "v1", scopeHash: await currentScopeHash(), userId: users[who], principalSubject: `key:${randomUUID()}`, clientName: "vitest-client",
    preview: over.preview ?? PREVIEW, expiresAt: new Date(Date.now() + (over.expiresInMs ?? 3_600_000)),
  });
  return row.id;
}

const statusOf = async (id: string) => (await prisma.writeRequest.findUniqueOrThrow({ where: { id } })).status;

beforeAll(async () => {
  [meta, chinook] = await Promise.all([createMetadataDatabase(), createChinookDatabase()]);
  useDashboardEnv(meta.url);
  process.env.QUEUE_PREFIX = `apr${randomBytes(3).toString("hex")}`;
  process.env.WEB_PUBLIC_URL = "http://localhost:3999";
  process.env.TARGET_NETWORKS = "any";
  process.env.TARGET_ALLOW_POWERFUL_ROLES = "true";
  process.env.TARGET_STACK_DATABASES = new URL(chinook.url).pathname.slice(1);
  // Access requests are decided with the link page's actions (one operation), which the Approvals page uses.
  actions = { ...(await import("../src/features/approvals/actions")), ...(await import("../src/features/access-grants/actions")) };
  ops = await import("../src/features/approvals/operations");
  resolveTeam = (await import("../src/lib/authz")).resolveTeam;
  prisma = (await import("../src/lib/db")).getPrisma();
  const { createUser, addMember, createTeam, setLinkApprovers } = await import("@portcullis/db/operations");
  const { encode } = await import("next-auth/jwt");
  for (const who of ["owner", "admin", "approver", "member", "viewer", "outsider"] as const) {
    const u = await createUser(prisma, { email: `${who}-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
    users[who] = u.id;
    const session = await prisma.session.create({ data: { userId: u.id, expiresAt: new Date(Date.now() + 86_400_000) } });
    tokens[who] = await encode({ token: { uid: u.id, sid: session.id }, secret: process.env.NEXTAUTH_SECRET! });
  }
  teamA = (await createTeam(prisma, { name: "Approvers", ownerId: users.owner })).id;
  await addMember(prisma, { teamId: teamA, userId: users.admin, role: "admin" });
  await addMember(prisma, { teamId: teamA, userId: users.approver, role: "member" });
  await addMember(prisma, { teamId: teamA, userId: users.member, role: "member" });
  await addMember(prisma, { teamId: teamA, userId: users.viewer, role: "viewer" });
  teamB = (await createTeam(prisma, { name: "Elsewhere", ownerId: users.outsider })).id;
  const conn = await import("../src/features/connections/operations");
  const links = await import("../src/features/links/operations");
  const ownerA = await resolveTeam({ userId: users.owner }, teamA);
  const connectionA = (await conn.createConnection(ownerA, { values: { name: "chinook", mode: "url", url: `${chinook.url}${chinook.url.includes("?") ? "&" : "?"}sslmode=disable`, sslMode: "disable" } as never })).id;
  linkA = (await links.createLinkForTeam(ownerA, { connectionId: connectionA, name: "writes-approved", scope: { access: "read", tables: { invoice_line: { access: "write", approval: "writes" } } } })).id;
  await links.setLinkAccess(ownerA, { linkId: linkA, userId: users.member, granted: true });
  await links.setLinkAccess(ownerA, { linkId: linkA, userId: users.approver, granted: true });
  await setLinkApprovers(prisma, { teamId: teamA, linkId: linkA, userIds: [users.approver] });
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await Promise.all([meta?.drop(), chinook?.drop()]);
});

describe("who sees and decides", () => {
  test("approvers see the request with its preview; a member who neither made nor approves it sees nothing and cannot decide it", async () => {
    const id = await pending("member");
    const asOwner = await ops.listOpenRequests(await resolveTeam({ userId: users.owner }, teamA));
    const seen = asOwner.find((r) => r.id === id);
    expect(seen).toMatchObject({ linkName: "writes-approved", clientName: "vitest-client", may: { approve: true, reject: true } });
    expect(seen?.preview).toMatchObject({ command: "delete", affected: 2 });
    expect((await ops.listOpenRequests(await resolveTeam({ userId: users.approver }, teamA))).map((r) => r.id)).toContain(id);
    expect((await ops.listOpenRequests(await resolveTeam({ userId: users.viewer }, teamA))).map((r) => r.id)).not.toContain(id);
    expect(await ops.countActionable(await resolveTeam({ userId: users.viewer }, teamA))).toBe(0);
    expect(await ops.countActionable(await resolveTeam({ userId: users.approver }, teamA))).toBeGreaterThan(0);

    expect(await call("viewer", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve" })).toMatchObject({ ok: false, code: "forbidden" });
    expect(await statusOf(id)).toBe("pending");
  });

  test("the requester cannot approve their own request (the link does not allow self-approval); another approver can", async () => {
    const id = await pending("approver");
    const mine = (await ops.listOpenRequests(await resolveTeam({ userId: users.approver }, teamA))).find((r) => r.id === id);
    expect(mine?.may).toMatchObject({ approve: false, why: "you cannot approve your own request" });
    const refused = await call("approver", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve", comment: "mine" });
    expect(refused).toMatchObject({ ok: false, code: "forbidden", error: "You cannot approve your own request" });
    expect(await statusOf(id)).toBe("pending");
    expect(await call("admin", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve", comment: "looks right" })).toMatchObject({ ok: true, data: { status: "approved" } });
    const row = await prisma.writeRequest.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ status: "approved", decidedBy: users.admin, decisionComment: "looks right" });
    expect(row.executeBefore!.getTime()).toBeGreaterThan(Date.now());
  });

  test("where the link allows self-approval (approvalOptions.selfApproval), the requester who approves may approve their own", async () => {
    const link = await prisma.link.findUniqueOrThrow({ where: { id: linkA } });
    const scope = link.scope as Record<string, unknown>;
    await prisma.link.update({ where: { id: linkA }, data: { scope: { ...scope, approvalOptions: { selfApproval: true } } as never } });
    try {
      const id = await pending("approver");
      const mine = (await ops.listOpenRequests(await resolveTeam({ userId: users.approver }, teamA))).find((r) => r.id === id);
      expect(mine?.may).toMatchObject({ approve: true, why: null });
      expect(await call("approver", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve" })).toMatchObject({ ok: true, data: { status: "approved" } });
      expect(await prisma.writeRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: "approved", decidedBy: users.approver });
    } finally {
      await prisma.link.update({ where: { id: linkA }, data: { scope: scope as never } });
    }
  });

  test("a member who is not an approver is told not found for someone else's request, and nothing changes", async () => {
    const { addMember, createUser } = await import("@portcullis/db/operations");
    const u = await createUser(prisma, { email: `plain-${randomBytes(4).toString("hex")}@example.com`, password: "a long enough password" });
    await addMember(prisma, { teamId: teamA, userId: u.id, role: "member" });
    const id = await pending("member");
    const ctx = await resolveTeam({ userId: u.id }, teamA);
    const { decideRequest } = await import("../src/features/approvals/decisions");
    await expect(decideRequest(ctx, { requestId: id, decision: "reject", comment: "no" })).rejects.toMatchObject({ code: "not_found" });
    expect(await statusOf(id)).toBe("pending");
  });

  test("a rejection needs a comment; with one it is recorded with the decider", async () => {
    const id = await pending("member");
    const bare = await call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "reject" });
    expect(bare).toMatchObject({ ok: false, code: "invalid_input" });
    expect(bare.ok ? "" : bare.fieldErrors?.comment).toMatch(/say why/i);
    expect(await call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "reject", comment: "   " })).toMatchObject({ ok: false, code: "invalid_input" });
    expect(await statusOf(id)).toBe("pending");
    expect(await call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "reject", comment: "not on a Friday" })).toMatchObject({ ok: true, data: { status: "rejected" } });
    expect(await prisma.writeRequest.findUniqueOrThrow({ where: { id } })).toMatchObject({ status: "rejected", decidedBy: users.owner, decisionComment: "not on a Friday" });
  });

  test("confirm kind: only the requester confirms; an admin's approve is refused in words, the requester's goes through", async () => {
    const id = await pending("member", { kind: "confirm" });
    const view = (await ops.listOpenRequests(await resolveTeam({ userId: users.member }, teamA))).find((r) => r.id === id);
    expect(view?.may).toMatchObject({ confirm: true, approve: false });
    const admin = await call("admin", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve" });
    expect(admin).toMatchObject({ ok: false, code: "forbidden" });
    expect(admin.ok ? "" : admin.error).toMatch(/only the member who made this request can confirm it/i);
    expect(await call("member", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve" })).toMatchObject({ ok: true, data: { status: "approved" } });
  });
});

describe("races", () => {
  test("two approvers at once: exactly one decision wins, the other reads 'already decided' naming the winner", async () => {
    for (let round = 0; round < 5; round++) {
      const id = await pending("member");
      const [a, b] = await Promise.all([
        call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve", comment: "go" }),
        call("admin", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "reject", comment: "stop" }),
      ]);
      const results = [a, b];
      expect(results.filter((r) => r.ok)).toHaveLength(1);
      const loser = results.find((r) => !r.ok) as Extract<Result, { ok: false }>;
      expect(loser.code).toBe("conflict");
      expect(loser.error).toMatch(/^Already decided — this request was already (approved|rejected) by .+@example\.com/);
      const row = await prisma.writeRequest.findUniqueOrThrow({ where: { id } });
      expect(row.status).toBe(a.ok ? "approved" : "rejected");
      expect(row.decidedBy).toBe(a.ok ? users.owner : users.admin);
    }
  });

  test("approval at expiry: the request expired just before the click → 'expired', nothing approved", async () => {
    const id = await pending("member");
    await prisma.$executeRawUnsafe(`UPDATE write_requests SET expires_at = now() - interval '1 second' WHERE id = $1::uuid`, id);
    const result = await call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve", comment: "late" });
    expect(result).toMatchObject({ ok: false, code: "conflict" });
    expect(result.ok ? "" : result.error).toMatch(/^Expired/);
    const row = await prisma.writeRequest.findUniqueOrThrow({ where: { id } });
    expect(row.status).not.toBe("approved");
    expect(row.executeBefore).toBeNull();
    // It is history now, not in the queue.
    const owner = await resolveTeam({ userId: users.owner }, teamA);
    expect((await ops.listOpenRequests(owner)).map((r) => r.id)).not.toContain(id);
    expect((await ops.listHistory(owner, { status: "expired" })).map((r) => r.id)).toContain(id);
  });
});

describe("tenancy", () => {
  test("another team's owner, with team A's request id under either team id: not found, the request unchanged", async () => {
    const id = await pending("member");
    for (const teamId of [teamA, teamB]) {
      expect(await call("outsider", "decideWriteRequestAction", { teamId, requestId: id, decision: "approve" })).toMatchObject({ ok: false, code: "not_found" });
      expect(await call("outsider", "decideWriteRequestAction", { teamId, requestId: id, decision: "reject", comment: "x" })).toMatchObject({ ok: false, code: "not_found" });
    }
    expect(await statusOf(id)).toBe("pending");
    const theirs = await resolveTeam({ userId: users.outsider }, teamB);
    expect(await ops.listOpenRequests(theirs)).toEqual([]);
    expect(await ops.listHistory(theirs)).toEqual([]);
  });

  test("operator objects and arrays for the ids are refused before anything runs", async () => {
    const id = await pending("member");
    for (const bad of [{ not: randomUUID() }, [id], { in: [id] }, null, 7]) {
      expect(await call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: bad, decision: "approve" })).toMatchObject({ ok: false, code: "invalid_input" });
      expect(await call("owner", "decideWriteRequestAction", { teamId: bad, requestId: id, decision: "approve" })).toMatchObject({ ok: false, code: "invalid_input" });
    }
    expect(await call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: id, decision: "approve", status: "approved" })).toMatchObject({ ok: false, code: "invalid_input" });
    expect(await statusOf(id)).toBe("pending");
  });
});

describe("access requests", () => {
  // Requests come from the gateway, which runs D's operation on a pg.Pool: asked the same way here.
  async function ask(who: Who = "member", table = "public.invoice") {
    const { requestAccessGrant } = await import("@portcullis/db/operations");
    const pg = (await import("pg")).default;
    const pool = new pg.Pool({ connectionString: meta.url, max: 1 });
    return (await requestAccessGrant(pool, { teamId: teamA, linkId: linkA, userId: users[who], tableKey: table, access: "write", minutes: 30, reason: "fix a typo", via: "tool", requestedBy: users[who] }).finally(() => pool.end())).id;
  }

  test("an approver grants with a comment; the grant shows as active with time left; revoke ends it early", async () => {
    // The grantee may give it up early: the page offers Revoke to them too.
    const id = await ask("member", "public.invoice");
    const approver = await resolveTeam({ userId: users.approver }, teamA);
    const listed = await ops.listAccessRequests(approver);
    expect((await ops.listAccessRequests(await resolveTeam({ userId: users.viewer }, teamA))).pending.map((g) => g.id)).not.toContain(id);
    expect(listed.pending.find((g) => g.id === id)).toMatchObject({ tableKey: "public.invoice", access: "write", minutes: 30, may: { decide: true } });
    expect(await call("approver", "decideAccessGrantAction", { teamId: teamA, grantId: id, decision: "grant", comment: "30 min" })).toMatchObject({ ok: true, data: { status: "granted" } });
    const row = await prisma.accessGrant.findUniqueOrThrow({ where: { id } });
    expect(row).toMatchObject({ status: "granted", decidedBy: users.approver, decisionComment: "30 min" });
    expect(row.expiresAt!.getTime() - row.startsAt!.getTime()).toBe(30 * 60_000);
    expect((await ops.listAccessRequests(approver)).active.map((g) => g.id)).toContain(id);

    // Another team's owner cannot end it, under either team id.
    expect(await call("outsider", "revokeAccessGrantAction", { teamId: teamA, grantId: id })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("outsider", "revokeAccessGrantAction", { teamId: teamB, grantId: id })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("admin", "revokeAccessGrantAction", { teamId: teamA, grantId: id })).toMatchObject({ ok: true, data: { status: "revoked" } });
    expect((await prisma.accessGrant.findUniqueOrThrow({ where: { id } })).status).toBe("revoked");
    // A second revoke is a conflict in words, not a second change.
    expect(await call("owner", "revokeAccessGrantAction", { teamId: teamA, grantId: id })).toMatchObject({ ok: false, code: "conflict" });
  });

  test("refusing needs a comment; the member's own request is not theirs to grant; viewers and outsiders decide nothing", async () => {
    const id = await ask("approver", "public.customer");
    expect(await call("approver", "decideAccessGrantAction", { teamId: teamA, grantId: id, decision: "grant" })).toMatchObject({ ok: false, code: "forbidden", error: expect.stringMatching(/^You cannot grant your own request/) });
    expect(await call("viewer", "decideAccessGrantAction", { teamId: teamA, grantId: id, decision: "grant" })).toMatchObject({ ok: false, code: "forbidden" });
    expect(await call("outsider", "decideAccessGrantAction", { teamId: teamB, grantId: id, decision: "grant" })).toMatchObject({ ok: false, code: "not_found" });
    expect(await call("owner", "decideAccessGrantAction", { teamId: teamA, grantId: id, decision: "refuse" })).toMatchObject({ ok: false, code: "invalid_input" });
    expect((await prisma.accessGrant.findUniqueOrThrow({ where: { id } })).status).toBe("pending");
    expect(await call("owner", "decideAccessGrantAction", { teamId: teamA, grantId: id, decision: "refuse", comment: "use the read replica" })).toMatchObject({ ok: true, data: { status: "refused" } });
    const late = await call("admin", "decideAccessGrantAction", { teamId: teamA, grantId: id, decision: "grant" });
    expect(late).toMatchObject({ ok: false, code: "conflict" });
    expect(late.ok ? "" : late.error).toMatch(/^Already decided/);
    expect((await prisma.accessGrant.findUniqueOrThrow({ where: { id } })).status).toBe("refused");
  });
});

describe("stale previews (the link's scope changed since the dry run)", () => {
  // Values no other fixture carries, so their absence from the page data means something.
  const SECRET_PRICE = "7319.57";
  const STALE_PREVIEW = {
    command: "UPDATE", affected: 2, table: "public.invoice_line", columns: ["invoice_line_id", "unit_price"], keyColumns: ["invoice_line_id"],
    before: [[1, SECRET_PRICE], [2, SECRET_PRICE]], after: [[1, "0.01"], [2, "0.01"]], plan: [{ Plan: { "Node Type": "ModifyTable", Output: ["unit_price"] } }], notes: [], durationMs: 2,
  };

  test("a column hidden after the preview was taken: rows, columns and the stored result's rows are withheld everywhere in the page data; the counts stay", async () => {
    const open = await pending("member", { preview: STALE_PREVIEW });
    const ran = await pending("member", { preview: STALE_PREVIEW });
    await prisma.writeRequest.update({
      where: { id: ran },
      data: { status: "executed", executedAt: new Date(), result: { columns: [{ name: "invoice_line_id" }, { name: "unit_price" }], rows: [[1, SECRET_PRICE]], rowCount: 1, affected: 2 } },
    });
    const owner = await resolveTeam({ userId: users.owner }, teamA);
    // Under the scope the preview was taken with, the rows show (the hash is computed as the gateway's).
    const fresh = (await ops.listOpenRequests(owner)).find((r) => r.id === open)!;
    expect(fresh.previewWithheld).toBe(false);
    expect(JSON.stringify(fresh.preview)).toContain(SECRET_PRICE);

    const link = await prisma.link.findUniqueOrThrow({ where: { id: linkA } });
    const scope = link.scope as { tables: Record<string, Record<string, unknown>> };
    await prisma.link.update({
      where: { id: linkA },
      data: { scope: { ...scope, tables: { ...scope.tables, invoice_line: { ...scope.tables.invoice_line, hiddenColumns: ["unit_price"] } } } as never },
    });
    try {
      const [queue, history] = await Promise.all([ops.listOpenRequests(owner), ops.listHistory(owner)]);
      const page = JSON.stringify({ queue, history });
      expect(page).not.toContain(SECRET_PRICE);
      expect(page).not.toContain("unit_price");
      const stale = queue.find((r) => r.id === open)!;
      expect(stale).toMatchObject({ previewWithheld: true, preview: { command: "UPDATE", affected: 2, table: "public.invoice_line", before: [], after: [], columns: [] } });
      const done = history.find((r) => r.id === ran)!;
      expect(done).toMatchObject({ previewWithheld: true, result: { rowCount: 1, affected: 2 } });

      // Rendered: the sentence, the count in words, no hidden value.
      const { RequestCard, resultWords } = await import("../src/features/approvals/request-card");
      const html = renderToStaticMarkup(createElement(RequestCard, { request: done, teamId: teamA, slug: "s", open: false }));
      expect(html).toMatch(/the link&#x27;s scope changed since this preview was taken; rows are withheld/i);
      expect(html).toContain("would update 2 rows");
      expect(resultWords(done.result)).toBe("2 rows affected");
      expect(html).not.toContain(SECRET_PRICE);
      expect(html).not.toContain("unit_price");
    } finally {
      await prisma.link.update({ where: { id: linkA }, data: { scope: scope as never } });
    }
  });

  test("a request made under a time-boxed grant shows its rows while the grant is in force, and withholds them once it ends", async () => {
    const { requestAccessGrant, decideAccessGrant } = await import("@portcullis/db/operations");
    const grant = await requestAccessGrant(prisma, { teamId: teamA, linkId: linkA, userId: users.member, tableKey: "public.invoice", access: "write", minutes: 30, reason: "fix totals", via: "tool", requestedBy: users.member });
    await decideAccessGrant(prisma, { teamId: teamA, id: grant.id, deciderId: users.owner, decision: "grant" });
    const { parseScope, scopeHash, withGrants } = await import("@portcullis/policy/scope");
    const parsed = parseScope((await prisma.link.findUniqueOrThrow({ where: { id: linkA } })).scope);
    if (!parsed.ok) throw new Error("scope");
    const id = await pending("member", { preview: STALE_PREVIEW });
    await prisma.writeRequest.update({ where: { id }, data: { scopeHash: scopeHash(withGrants(parsed.scope, [{ table: "public.invoice", access: "write" }])) } });
    const owner = await resolveTeam({ userId: users.owner }, teamA);
    const during = (await ops.listOpenRequests(owner)).find((r) => r.id === id)!;
    expect(during.previewWithheld).toBe(false);
    expect(JSON.stringify(during.preview)).toContain(SECRET_PRICE);
    await prisma.accessGrant.update({ where: { id: grant.id }, data: { status: "revoked" } });
    const after = (await ops.listOpenRequests(owner)).find((r) => r.id === id)!;
    expect(after.previewWithheld).toBe(true);
    expect(JSON.stringify(after)).not.toContain(SECRET_PRICE);
  });

  test("a link whose stored scope no longer parses withholds every preview (fail closed)", async () => {
    const id = await pending("member", { preview: STALE_PREVIEW });
    const link = await prisma.link.findUniqueOrThrow({ where: { id: linkA } });
    await prisma.link.update({ where: { id: linkA }, data: { scope: { access: "everything" } as never } });
    try {
      const view = (await ops.listOpenRequests(await resolveTeam({ userId: users.owner }, teamA))).find((r) => r.id === id)!;
      expect(view.previewWithheld).toBe(true);
      expect(JSON.stringify(view)).not.toContain(SECRET_PRICE);
    } finally {
      await prisma.link.update({ where: { id: linkA }, data: { scope: link.scope as never } });
    }
  });
});

describe("the nav count", () => {
  test("counts only what the viewer can act on: not their own approval requests (self-approval off) nor their own access requests; their own confirmations yes", async () => {
    const { requestAccessGrant } = await import("@portcullis/db/operations");
    for (const who of ["approver", "admin"] as const) {
      const ctx = async () => resolveTeam({ userId: users[who] }, teamA);
      const start = await ops.countActionable(await ctx());
      await pending(who);
      await requestAccessGrant(prisma, { teamId: teamA, linkId: linkA, userId: users[who], tableKey: "public.track", access: "write", minutes: 10, reason: "mine", via: "tool", requestedBy: users[who] });
      expect(await ops.countActionable(await ctx())).toBe(start);
      await pending(who, { kind: "confirm" });
      expect(await ops.countActionable(await ctx())).toBe(start + 1);
      await pending("member");
      expect(await ops.countActionable(await ctx())).toBe(start + 2);
      // Someone else's confirmation is theirs to confirm, not this viewer's.
      await pending("member", { kind: "confirm" });
      expect(await ops.countActionable(await ctx())).toBe(start + 2);
    }
  });

  test("with self-approval on the link, the approver's own approval request counts", async () => {
    const link = await prisma.link.findUniqueOrThrow({ where: { id: linkA } });
    const scope = link.scope as Record<string, unknown>;
    const ctx = async () => resolveTeam({ userId: users.approver }, teamA);
    const before = await ops.countActionable(await ctx());
    await prisma.link.update({ where: { id: linkA }, data: { scope: { ...scope, approvalOptions: { selfApproval: true } } as never } });
    try {
      // The approver's own requests left open by the tests above become theirs to decide too.
      const start = await ops.countActionable(await ctx());
      expect(start).toBeGreaterThan(before);
      await pending("approver");
      expect(await ops.countActionable(await ctx())).toBe(start + 1);
    } finally {
      await prisma.link.update({ where: { id: linkA }, data: { scope: scope as never } });
    }
  });
});

describe("deep links from notifications (?request=, ?grant=)", () => {
  async function renderPage(who: Who, query: Record<string, string>): Promise<string> {
    const { ApprovalsView } = await import("../src/features/approvals/approvals-view");
    const slug = (await prisma.team.findUniqueOrThrow({ where: { id: teamA } })).slug;
    return renderToStaticMarkup(await ApprovalsView({ ctx: await resolveTeam({ userId: users[who] }, teamA), slug, query }));
  }
  const highlighted = (html: string) => [...html.matchAll(/id="((?:request|grant)-[0-9a-f-]{36})"[^>]*data-highlighted="true"/g)].map((m) => m[1]);
  const current = (html: string) => /aria-current="page"[^>]*>(Waiting|History)</.exec(html)?.[1];

  test("an open request opens Waiting with its card highlighted; a decided one opens History with it highlighted", async () => {
    const open = await pending("member");
    const decided = await pending("member");
    expect(await call("owner", "decideWriteRequestAction", { teamId: teamA, requestId: decided, decision: "reject", comment: "not now" })).toMatchObject({ ok: true });

    const queue = await renderPage("owner", { request: open });
    expect(current(queue)).toBe("Waiting");
    expect(highlighted(queue)).toEqual([`request-${open}`]);

    const history = await renderPage("owner", { request: decided });
    expect(current(history)).toBe("History");
    expect(highlighted(history)).toEqual([`request-${decided}`]);
    // Even when a tab is named in the URL, the request's state decides.
    expect(current(await renderPage("owner", { tab: "queue", request: decided }))).toBe("History");
  });

  test("a request the viewer may not see is not highlighted nor shown: the page says so, as for an id that does not exist", async () => {
    const id = await pending("member");
    for (const [who, request] of [["viewer", id], ["owner", randomUUID()]] as const) {
      const html = await renderPage(who, { request });
      expect(html).toContain('data-testid="deep-link-missing"');
      expect(highlighted(html)).toEqual([]);
      expect(html).not.toContain(request);
    }
    // Not a uuid: ignored like any unknown parameter.
    expect(await renderPage("owner", { request: "'><script>" })).not.toContain("<script>");
  });

  test("an access request opens Waiting with its row highlighted; a refused one is shown on its own with its decision", async () => {
    const { requestAccessGrant } = await import("@portcullis/db/operations");
    const ask = async (table: string) => (await requestAccessGrant(prisma, { teamId: teamA, linkId: linkA, userId: users.member, tableKey: table, access: "write", minutes: 15, reason: "deep link", via: "tool", requestedBy: users.member })).id;
    const waiting = await ask("public.album");
    const html = await renderPage("owner", { grant: waiting });
    expect(current(html)).toBe("Waiting");
    expect(highlighted(html)).toEqual([`grant-${waiting}`]);

    const refused = await ask("public.artist");
    expect(await call("owner", "decideAccessGrantAction", { teamId: teamA, grantId: refused, decision: "refuse", comment: "ask the DBA" })).toMatchObject({ ok: true });
    const past = await renderPage("approver", { grant: refused });
    expect(highlighted(past)).toEqual([`grant-${refused}`]);
    expect(past).toContain("Access request: refused");
    expect(past).toContain("ask the DBA");
    expect(await renderPage("viewer", { grant: refused })).toContain('data-testid="deep-link-missing"');
  });
});
