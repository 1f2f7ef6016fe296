import { PortcullisError } from "@portcullis/db/errors";
import { getPrisma } from "../../lib/db";
import type { Actor } from "../../lib/authz";

export async function listSessions(actor: Actor) {
  return getPrisma().session.findMany({
    where: { userId: actor.userId, revokedAt: null, expiresAt: { gt: new Date() } },
    orderBy: { lastSeenAt: "desc" },
    select: { id: true, userAgent: true, ip: true, createdAt: true, lastSeenAt: true },
  });
}

/** Signs out every other browser: their JWTs stay well-formed but their sessions rows are revoked. */
export async function revokeOtherSessions(actor: Actor & { sessionId: string }) {
  const result = await getPrisma().session.updateMany({
    where: { userId: actor.userId, revokedAt: null, id: { not: actor.sessionId } },
    data: { revokedAt: new Date() },
  });
  return { revoked: result.count };
}

export async function revokeSession(actor: Actor, sessionId: string) {
  const result = await getPrisma().session.updateMany({ where: { id: sessionId, userId: actor.userId, revokedAt: null }, data: { revokedAt: new Date() } });
  if (result.count === 0) throw new PortcullisError("not_found", "session not found");
}
