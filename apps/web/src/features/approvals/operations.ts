import type { Prisma, WriteRequestStatus } from "@portcullis/db/client";
import { roleAtLeast, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { parsePreview, type WritePreview } from "./preview-diff";
import { previewChecker, resultCounts, withholdRows } from "./stale-preview";

export const OPEN_STATUSES: WriteRequestStatus[] = ["pending"];
export const HISTORY_STATUSES: WriteRequestStatus[] = ["approved", "rejected", "expired", "executing", "executed", "failed"];

/**
 * The links whose requests this member decides: every link for owners and admins, else the links an
 * admin named them approver of. `null` means "all of the team's".
 */
export async function approverLinkIds(ctx: TeamContext): Promise<string[] | null> {
  if (roleAtLeast(ctx.role, "admin")) return null;
  const rows = await getPrisma().linkApprover.findMany({ where: { userId: ctx.user.userId, link: { teamId: ctx.team.id } }, select: { linkId: true } });
  return rows.map((r) => r.linkId);
}

/**
 * What of the team's requests this member may see: an approver sees the requests of the links they
 * decide (the preview is data read under the requester's scope, shown to the people who must judge
 * it), everyone sees their own. Viewers and members who approve nothing see only their own.
 */
function visibleRequests(ctx: TeamContext, links: string[] | null): Prisma.WriteRequestWhereInput {
  if (links === null) return { teamId: ctx.team.id };
  return { teamId: ctx.team.id, OR: [{ userId: ctx.user.userId }, { linkId: { in: links } }] };
}

function visibleGrants(ctx: TeamContext, links: string[] | null): Prisma.AccessGrantWhereInput {
  if (links === null) return { teamId: ctx.team.id };
  return { teamId: ctx.team.id, OR: [{ userId: ctx.user.userId }, { linkId: { in: links } }] };
}

export interface WriteRequestView {
  id: string;
  kind: "approval" | "confirm";
  status: WriteRequestStatus;
  mode: string;
  tables: string[];
  reason: string;
  sql: string;
  params: unknown;
  linkId: string;
  linkName: string;
  /** Which of the link's databases (attack finding 2): shown when the link has several or the row names one. */
  databaseLabel: string | null;
  requester: string | null;
  requesterId: string | null;
  clientName: string | null;
  createdAt: Date;
  expiresAt: Date;
  executeBefore: Date | null;
  decider: string | null;
  decidedAt: Date | null;
  comment: string | null;
  executedAt: Date | null;
  /** The execution's counts only (never its rows). */
  result: { affected?: number; rowCount?: number } | null;
  error: string | null;
  preview: WritePreview | null;
  /** The link's scope changed since the preview was taken: `preview` keeps only its counts. */
  previewWithheld: boolean;
  /** What this viewer may do with it: decide (approve/reject), confirm (their own confirm-kind), or nothing and why. */
  may: { approve: boolean; reject: boolean; confirm: boolean; why: string | null };
  /** The audit chain of the request: request → decision → execution (event ids, oldest first). */
  chain: { id: string; kind: string; tool: string | null; verdict: string | null; ruleId: string | null; time: Date }[];
}

/** What databaseLabel reads: the link's first database's name and whether it has further ones. */
const LINK_DATABASES = { databaseName: true, _count: { select: { databases: true } } } as const;

const include = {
  link: { select: { name: true, scope: true, ...LINK_DATABASES } },
  user: { select: { email: true } },
  decider: { select: { email: true } },
} satisfies Prisma.WriteRequestInclude;
type Row = Prisma.WriteRequestGetPayload<{ include: typeof include }>;

/**
 * The database a person reads a request or grant as made on: its own name, or the link's first's when
 * it names none and the link has several; null on a single-database link for a row naming none.
 */
export function databaseLabel(row: { databaseName: string | null }, link: { databaseName: string; _count: { databases: number } }): string | null {
  return row.databaseName ?? (link._count.databases > 0 ? link.databaseName : null);
}

function selfApprovalAllowed(scope: unknown): boolean {
  const options = (scope as { approvalOptions?: { selfApproval?: unknown } } | null)?.approvalOptions;
  return options?.selfApproval === true;
}

function toView(ctx: TeamContext, row: Row, links: string[] | null, current: boolean, chain: WriteRequestView["chain"] = []): WriteRequestView {
  const approver = links === null || links.includes(row.linkId);
  const own = row.userId === ctx.user.userId;
  const open = row.status === "pending" && row.expiresAt.getTime() > Date.now();
  const selfOk = selfApprovalAllowed(row.link.scope);
  let may: WriteRequestView["may"] = { approve: false, reject: false, confirm: false, why: null };
  if (open && row.kind === "confirm") {
    // The caller confirms their own statement; approvers may still stop it.
    may = { approve: false, reject: own || approver, confirm: own, why: own ? null : "the requester confirms this one" };
  } else if (open && approver && ctx.role !== "viewer") {
    if (own && !selfOk) may = { approve: false, reject: true, confirm: false, why: "you cannot approve your own request" };
    else may = { approve: true, reject: true, confirm: false, why: null };
  } else if (open) {
    may = { approve: false, reject: false, confirm: false, why: own ? "you cannot approve your own request" : "you are not an approver of this link" };
  }
  const preview = parsePreview(row.preview);
  return {
    id: row.id, kind: row.kind, status: row.status, mode: row.mode, tables: row.tables, reason: row.reason, sql: row.sql, params: row.params,
    linkId: row.linkId, linkName: row.link.name, databaseLabel: databaseLabel(row, row.link), requester: row.user?.email ?? null, requesterId: row.userId, clientName: row.clientName,
    createdAt: row.createdAt, expiresAt: row.expiresAt, executeBefore: row.executeBefore, decider: row.decider?.email ?? null,
    decidedAt: row.decidedAt, comment: row.decisionComment, executedAt: row.executedAt, result: resultCounts(row.result), error: row.error,
    preview: preview && !current ? withholdRows(preview) : preview, previewWithheld: preview !== null && !current, may, chain,
  };
}

/** The queue: open requests, oldest first (the one closest to expiring leads). */
export async function listOpenRequests(ctx: TeamContext): Promise<WriteRequestView[]> {
  const links = await approverLinkIds(ctx);
  const rows = await getPrisma().writeRequest.findMany({
    where: { ...visibleRequests(ctx, links), status: { in: OPEN_STATUSES }, expiresAt: { gt: new Date() } },
    orderBy: { createdAt: "asc" },
    take: 200,
    include,
  });
  const current = previewChecker(ctx.team.id);
  return Promise.all(rows.map(async (r) => toView(ctx, r, links, await current(r))));
}

export interface HistoryFilter {
  linkId?: string;
  status?: WriteRequestStatus;
  /** One request (a deep link to a decided one), still only among those this member may see. */
  id?: string;
}

/** Decided, executed and expired requests, newest first, with each one's audit chain. */
export async function listHistory(ctx: TeamContext, filter: HistoryFilter = {}): Promise<WriteRequestView[]> {
  const links = await approverLinkIds(ctx);
  const prisma = getPrisma();
  const rows = await prisma.writeRequest.findMany({
    where: {
      AND: [
        visibleRequests(ctx, links),
        // A pending request past its expiry is history (expired) even before the sweep marks it.
        filter.status === "expired"
          ? { OR: [{ status: "expired" }, { status: "pending", expiresAt: { lte: new Date() } }] }
          : filter.status
            ? { status: filter.status }
            : { OR: [{ status: { in: HISTORY_STATUSES } }, { status: "pending", expiresAt: { lte: new Date() } }] },
        filter.linkId ? { linkId: filter.linkId } : {},
        filter.id ? { id: filter.id } : {},
      ],
    },
    orderBy: { createdAt: "desc" },
    take: 100,
    include,
  });
  const events = rows.length
    ? await prisma.auditEvent.findMany({
        where: { teamId: ctx.team.id, writeRequestId: { in: rows.map((r) => r.id) } },
        select: { id: true, kind: true, tool: true, verdict: true, ruleId: true, time: true, writeRequestId: true },
        orderBy: { time: "asc" },
        take: 1000,
      })
    : [];
  const current = previewChecker(ctx.team.id);
  return Promise.all(rows.map(async (r) => toView(ctx, r, links, await current(r), events.filter((e) => e.writeRequestId === r.id).map(({ writeRequestId: _w, ...e }) => e))));
}

/**
 * The nav badge: open requests this member can act on — others' approval requests on the links they
 * decide, their own only where the link allows self-approval, their own confirmations, and others'
 * access requests. What the queue would show them as "you cannot approve your own request" is not
 * a thing waiting for them.
 */
export async function countActionable(ctx: TeamContext): Promise<number> {
  const links = await approverLinkIds(ctx);
  const now = new Date();
  const me = ctx.user.userId;
  const prisma = getPrisma();
  const open = { teamId: ctx.team.id, status: "pending" as const, expiresAt: { gt: now } };
  const ownConfirms = prisma.writeRequest.count({ where: { ...open, kind: "confirm", userId: me } });
  if (ctx.role === "viewer" || (links !== null && links.length === 0)) return ownConfirms;
  const onLinks = links === null ? {} : { linkId: { in: links } };
  const [others, mine, confirms, grants] = await Promise.all([
    // A request with no member (none today) is someone else's: `not` alone would skip NULLs.
    prisma.writeRequest.count({ where: { ...open, kind: "approval", ...onLinks, OR: [{ userId: null }, { userId: { not: me } }] } }),
    prisma.writeRequest.findMany({ where: { ...open, kind: "approval", ...onLinks, userId: me }, select: { link: { select: { scope: true } } }, take: 200 }),
    ownConfirms,
    prisma.accessGrant.count({ where: { teamId: ctx.team.id, status: "pending", requestExpiresAt: { gt: now }, ...onLinks, userId: { not: me } } }),
  ]);
  return others + mine.filter((r) => selfApprovalAllowed(r.link.scope)).length + confirms + grants;
}

/**
 * Where a deep link (`?request=<id>`, from a notification) points: the Waiting tab while the request is
 * open, else History. Null for an id this member may not see — the same as one that does not exist.
 */
export async function locateRequest(ctx: TeamContext, id: string): Promise<"queue" | "history" | null> {
  const links = await approverLinkIds(ctx);
  const row = await getPrisma().writeRequest.findFirst({ where: { AND: [visibleRequests(ctx, links), { id }] }, select: { status: true, expiresAt: true } });
  if (!row) return null;
  return row.status === "pending" && row.expiresAt.getTime() > Date.now() ? "queue" : "history";
}

export interface AccessGrantView {
  id: string;
  status: string;
  linkId: string;
  linkName: string;
  databaseLabel: string | null;
  member: string;
  memberId: string;
  tableKey: string;
  access: string;
  minutes: number;
  reason: string;
  via: string;
  createdAt: Date;
  requestExpiresAt: Date;
  expiresAt: Date | null;
  decider: string | null;
  comment: string | null;
  may: { decide: boolean; revoke: boolean; why: string | null };
}

/** Pending access requests (oldest first) and the grants in force (ending soonest first). */
export async function listAccessRequests(ctx: TeamContext): Promise<{ pending: AccessGrantView[]; active: AccessGrantView[] }> {
  const links = await approverLinkIds(ctx);
  const now = new Date();
  const where = visibleGrants(ctx, links);
  const grantInclude = { link: { select: { name: true, ...LINK_DATABASES } }, user: { select: { email: true } }, decider: { select: { email: true } } } as const;
  const prisma = getPrisma();
  const [pending, active] = await Promise.all([
    prisma.accessGrant.findMany({ where: { ...where, status: "pending", requestExpiresAt: { gt: now } }, orderBy: { createdAt: "asc" }, take: 200, include: grantInclude }),
    prisma.accessGrant.findMany({ where: { ...where, status: "granted", expiresAt: { gt: now } }, orderBy: { expiresAt: "asc" }, take: 200, include: grantInclude }),
  ]);
  const view = (g: (typeof pending)[number]): AccessGrantView => {
    const approver = (links === null || links.includes(g.linkId)) && ctx.role !== "viewer";
    const own = g.userId === ctx.user.userId;
    const decide = g.status === "pending" && approver && !own;
    return {
      id: g.id, status: g.status, linkId: g.linkId, linkName: g.link.name, databaseLabel: databaseLabel(g, g.link), member: g.user.email, memberId: g.userId, tableKey: g.tableKey,
      access: g.access, minutes: g.minutes, reason: g.reason, via: g.requestedVia, createdAt: g.createdAt, requestExpiresAt: g.requestExpiresAt,
      expiresAt: g.expiresAt, decider: g.decider?.email ?? null, comment: g.decisionComment,
      may: { decide, revoke: g.status === "granted" && (approver || own), why: g.status === "pending" && !decide ? (own ? "you cannot grant your own request" : "you are not an approver of this link") : null },
    };
  };
  return { pending: pending.map(view), active: active.map(view) };
}

export interface GrantLocation {
  id: string;
  /** The Waiting tab lists it (pending, or granted and in force); else it is over and shown on its own. */
  listed: boolean;
  /** As it reads now: a pending request or a grant past its time is "expired" even before the sweep. */
  status: string;
  tableKey: string;
  access: string;
  member: string;
  linkName: string;
  databaseLabel: string | null;
  decider: string | null;
  comment: string | null;
}

/** Where `?grant=<id>` points, among the access requests this member may see (else null, as for none). */
export async function locateGrant(ctx: TeamContext, id: string): Promise<GrantLocation | null> {
  const links = await approverLinkIds(ctx);
  const g = await getPrisma().accessGrant.findFirst({
    where: { AND: [visibleGrants(ctx, links), { id }] },
    include: { link: { select: { name: true, ...LINK_DATABASES } }, user: { select: { email: true } }, decider: { select: { email: true } } },
  });
  if (!g) return null;
  const now = Date.now();
  const pendingOpen = g.status === "pending" && g.requestExpiresAt.getTime() > now;
  const inForce = g.status === "granted" && g.expiresAt !== null && g.expiresAt.getTime() > now;
  const over = (g.status === "pending" || g.status === "granted") && !pendingOpen && !inForce;
  return {
    id: g.id, listed: pendingOpen || inForce, status: over ? "expired" : g.status, tableKey: g.tableKey, access: g.access, member: g.user.email,
    linkName: g.link.name, databaseLabel: databaseLabel(g, g.link), decider: g.decider?.email ?? null, comment: g.decisionComment,
  };
}

/** Links the history filter offers: those whose requests this member can see. */
export async function historyLinks(ctx: TeamContext): Promise<{ id: string; name: string }[]> {
  const links = await approverLinkIds(ctx);
  return getPrisma().link.findMany({
    where: { teamId: ctx.team.id, writeRequests: { some: visibleRequests(ctx, links) } },
    select: { id: true, name: true },
    orderBy: { name: "asc" },
  });
}

