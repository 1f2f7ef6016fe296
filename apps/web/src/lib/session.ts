import { cookies, headers } from "next/headers";
import { redirect, notFound } from "next/navigation";
import { getToken } from "next-auth/jwt";
import { isPortcullisError } from "@portcullis/db/errors";
import { clientIp } from "./auth";
import { authorizeTeamSlug } from "./authz";
import { can, landingPage, type Need } from "./permissions";
import { getPrisma } from "./db";
import { env } from "./env";
import { UnauthenticatedError } from "./errors";

export interface SessionUser {
  userId: string;
  email: string;
  name: string | null;
  sessionId: string;
}

/**
 * Reads the next-auth JWT from the request cookies and checks its `sessions` row (not revoked, not
 * expired). Returns null when signed out.
 */
export async function getSessionUser(): Promise<SessionUser | null> {
  const cookieStore = await cookies();
  const headerStore = await headers();
  const token = await getToken({
    req: { cookies: Object.fromEntries(cookieStore.getAll().map((c) => [c.name, c.value])), headers: Object.fromEntries(headerStore.entries()) } as never,
    secret: env().NEXTAUTH_SECRET,
    secureCookie: env().publicUrl.startsWith("https://"),
  });
  if (!token?.uid || !token.sid) return null;
  const session = await getPrisma().session.findUnique({
    where: { id: token.sid as string },
    include: { user: { select: { id: true, email: true, name: true } } },
  });
  if (!session || session.revokedAt || session.expiresAt < new Date() || session.userId !== token.uid) return null;
  // Device details for the account page, refreshed at most every five minutes (not on every request).
  if (Date.now() - session.lastSeenAt.getTime() > 5 * 60_000 || !session.userAgent) {
    const userAgent = headerStore.get("user-agent")?.slice(0, 300) ?? null;
    const source = clientIp(headerStore);
    const ip = source === "unknown" ? null : source;
    await getPrisma()
      .session.update({ where: { id: session.id }, data: { lastSeenAt: new Date(), userAgent, ip } })
      .catch(() => {});
  }
  return { userId: session.user.id, email: session.user.email, name: session.user.name, sessionId: session.id };
}

export async function requireUser(): Promise<SessionUser> {
  const user = await getSessionUser();
  if (!user) throw new UnauthenticatedError();
  return user;
}

/** For pages: signed out → sign-in; not a member (or no such team) → 404. */
export async function requirePageUser(): Promise<SessionUser> {
  const user = await getSessionUser();
  if (!user) redirect("/sign-in");
  return user;
}

/**
 * A page's check: not a member → 404. A member whose role lacks the page's need → 404 as well,
 * except an auditor, who is sent to the one page they have (Activity) rather than a dead end.
 */
export async function requireTeamPage(slug: string, need: Need = "viewer") {
  const user = await requirePageUser();
  let ctx;
  try {
    ctx = await authorizeTeamSlug(user, slug, "team:open");
  } catch (error) {
    if (isPortcullisError(error) && (error.code === "not_found" || error.code === "forbidden")) notFound();
    throw error;
  }
  if (!can(ctx.role, need)) {
    if (ctx.role === "auditor") redirect(`/t/${ctx.team.slug}${landingPage(ctx.role)}`);
    notFound();
  }
  return { ...ctx, user };
}
