import {
  type AuditSinkView,
  adminSinkUrl,
  createAuditSink,
  deleteAuditSink,
  listAuditSinks,
  pauseAuditSink,
  requestAuditSinkTest,
  resumeAuditSink,
  rotateAuditSinkSecret,
  shownSinkUrl,
  stackEndpoints,
  waitForAuditSinkTest,
} from "@portcullis/db/operations";
import { requireRole, type TeamContext } from "../../lib/authz";
import { getPrisma } from "../../lib/db";
import { can } from "../../lib/permissions";
import { env } from "../../lib/env";

/**
 * Audit sinks in the dashboard. Reading (the list with cursor, lag and last error) is for whoever
 * reads the whole team's Activity — owners, admins, viewers, auditors; every change is an admin's.
 * Each operation checks its own need, whatever called it, and acts only on its team's sinks.
 */
export type SinkRow = Omit<AuditSinkView, "teamId" | "url"> & { url: string | null };

type Ctx = TeamContext & { user: { userId: string }; sourceIp?: string | null };

/** The stack's own services as this process knows them: never a sink's target. */
export function dashboardStack() {
  const e = env();
  return stackEndpoints([e.DATABASE_URL, e.REDIS_URL, e.publicUrl, e.GATEWAY_PUBLIC_URL, e.gatewayInternalUrl, e.gatewayHealthUrl]);
}

export async function listSinks(ctx: TeamContext): Promise<SinkRow[]> {
  requireRole(ctx, "activity:read-all");
  const sinks = await listAuditSinks(getPrisma(), { teamId: ctx.team.id });
  // A receiver's token may sit in the query (never shown) or the path (shown to admins only, who set it).
  const show = can(ctx.role, "admin") ? adminSinkUrl : shownSinkUrl;
  return sinks.map(({ teamId: _team, url, ...rest }) => ({ ...rest, url: show(url) }));
}

const actor = (ctx: Ctx) => ({ teamId: ctx.team.id, actorUserId: ctx.user.userId, via: "dashboard" as const, sourceIp: ctx.sourceIp ?? null });

export async function addSink(ctx: Ctx, input: { kind: "webhook"; name: string; url: string } | { kind: "file"; name: string }): Promise<{ id: string; secret: string | null }> {
  requireRole(ctx, "admin");
  const { sink, secret } = await createAuditSink(getPrisma(), { ...actor(ctx), ...input }, { stack: dashboardStack() });
  return { id: sink.id, secret };
}

export async function pauseSink(ctx: Ctx, sinkId: string) {
  requireRole(ctx, "admin");
  await pauseAuditSink(getPrisma(), { ...actor(ctx), sinkId });
}

export async function resumeSink(ctx: Ctx, sinkId: string) {
  requireRole(ctx, "admin");
  await resumeAuditSink(getPrisma(), { ...actor(ctx), sinkId });
}

export async function removeSink(ctx: Ctx, sinkId: string) {
  requireRole(ctx, "admin");
  await deleteAuditSink(getPrisma(), { ...actor(ctx), sinkId });
}

export async function rotateSinkSecret(ctx: Ctx, sinkId: string): Promise<{ secret: string }> {
  requireRole(ctx, "admin");
  return rotateAuditSinkSecret(getPrisma(), { ...actor(ctx), sinkId });
}

/** Asks the worker for a test and waits a few seconds for its outcome (null: no worker answered yet). */
export async function testSink(ctx: Ctx, sinkId: string, timeoutMs = 8000): Promise<{ ok: boolean; error: string | null } | null> {
  requireRole(ctx, "admin");
  const { requestedAt } = await requestAuditSinkTest(getPrisma(), { ...actor(ctx), sinkId });
  return waitForAuditSinkTest(getPrisma(), { teamId: ctx.team.id, sinkId, since: requestedAt, timeoutMs });
}
