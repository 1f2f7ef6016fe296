import { z } from "zod";
import { normalizeEmail } from "@portcullis/db/operations";
import type { PrismaClient } from "@portcullis/db/client";

export type SignUpMode = "open" | "invite-only" | "closed";

export interface ExternalIdentity {
  provider: string;
  providerAccountId: string;
  /** The address the provider gives, and whether the provider itself has verified it. */
  email: string | null | undefined;
  emailVerified: boolean;
  name?: string | null;
}

/** Every sentence a refused external sign-in shows (the sign-in page shows nothing else from its URL). */
export const EXTERNAL_SIGN_IN_ERRORS = {
  noEmail: "Your provider did not share an email address.",
  unverified: "Your email address is not verified with your provider. Verify it there, then sign in again.",
  unverifiedAccount:
    "An account with this email already exists but its address was never verified, so it cannot be linked. Sign in with its password, or reset the password (that verifies the address), then try again.",
  closed: "Sign-up is closed on this server. Ask an administrator for an account.",
  inviteOnly: "Sign-up needs an invitation on this server. Open the invitation link you received and create your account there.",
} as const;

export type LinkDecision = { ok: true; userId: string; created: boolean; linked: boolean } | { ok: false; error: string };

/**
 * Who a GitHub/Google sign-in becomes. An identity already linked signs in as its user. Otherwise it is
 * matched by e-mail, which is only safe when BOTH sides vouch for the address: the provider verified
 * it (else anyone could claim a victim's address at the provider) and the existing account verified
 * it (else an attacker who registered the victim's address first, unverified, would later receive
 * the victim's own GitHub sign-in, and the account with it). A new account is a sign-up, so it
 * follows SIGNUP_MODE.
 */
export async function resolveExternalSignIn(prisma: PrismaClient, identity: ExternalIdentity, mode: SignUpMode): Promise<LinkDecision> {
  const existing = await prisma.account.findUnique({
    where: { provider_providerAccountId: { provider: identity.provider, providerAccountId: identity.providerAccountId } },
  });
  if (existing) return { ok: true, userId: existing.userId, created: false, linked: false };

  const email = normalizeEmail(identity.email ?? "");
  if (!email || !z.string().email().safeParse(email).success) return { ok: false, error: EXTERNAL_SIGN_IN_ERRORS.noEmail };
  if (!identity.emailVerified) return { ok: false, error: EXTERNAL_SIGN_IN_ERRORS.unverified };

  const owner = await prisma.user.findUnique({ where: { email } });
  if (owner) {
    if (!owner.emailVerifiedAt) {
      return { ok: false, error: EXTERNAL_SIGN_IN_ERRORS.unverifiedAccount };
    }
    await prisma.account.create({ data: { userId: owner.id, provider: identity.provider, providerAccountId: identity.providerAccountId } });
    return { ok: true, userId: owner.id, created: false, linked: true };
  }
  if (mode !== "open") {
    return { ok: false, error: mode === "closed" ? EXTERNAL_SIGN_IN_ERRORS.closed : EXTERNAL_SIGN_IN_ERRORS.inviteOnly };
  }
  const user = await prisma.user.create({
    data: {
      email,
      name: identity.name ?? null,
      emailVerifiedAt: new Date(),
      accounts: { create: { provider: identity.provider, providerAccountId: identity.providerAccountId } },
    },
  });
  return { ok: true, userId: user.id, created: true, linked: true };
}

const githubEmails = z.array(z.object({ email: z.string(), verified: z.boolean(), primary: z.boolean().optional() }));

/**
 * GitHub's profile e-mail says nothing about verification; its /user/emails list does. Returns the
 * address only when GitHub marks it verified (the primary one when the profile shows none).
 */
export async function githubVerifiedEmail(accessToken: string | undefined, profileEmail: string | null | undefined): Promise<string | null> {
  if (!accessToken) return null;
  const response = await fetch("https://api.github.com/user/emails", {
    headers: { Authorization: `Bearer ${accessToken}`, Accept: "application/vnd.github+json", "User-Agent": "portcullis" },
    signal: AbortSignal.timeout(10_000),
  }).catch(() => null);
  if (!response?.ok) return null;
  const parsed = githubEmails.safeParse(await response.json().catch(() => null));
  if (!parsed.success) return null;
  const wanted = profileEmail ? normalizeEmail(profileEmail) : null;
  const match = parsed.data.find((e) => e.verified && (wanted ? normalizeEmail(e.email) === wanted : e.primary));
  return match ? match.email : null;
}
