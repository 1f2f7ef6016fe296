import { z } from "zod";
import { normalizeEmail } from "@portcullis/db/operations";
import { hashPassword, MIN_PASSWORD_LENGTH } from "@portcullis/db/passwords";
import { randomToken, sha256Hex } from "@portcullis/db/keys";
import { PortcullisError } from "@portcullis/db/errors";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { sendMail } from "../../lib/mail";
import { hitRateLimit } from "../../lib/rate-limit";
import { findInvitation } from "../teams/operations";
import { clearSignInFailures } from "./credentials";
import type { SignUpMode } from "./oauth-link";

export const passwordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `use at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(256, "use at most 256 characters");

const emailSchema = z.string().trim().max(254, "use at most 254 characters").email("enter a valid email address");
/** Invitation tokens are randomToken() output (base64url); anything else cannot be one. */
export const invitationTokenSchema = z.string().regex(/^[A-Za-z0-9_-]{16,128}$/, "this invitation link is not valid");

export const signUpSchema = z.strictObject({
  name: z.string().trim().max(100).optional(),
  email: emailSchema,
  password: passwordSchema,
  invitationToken: invitationTokenSchema.optional(),
});

export const SIGN_UP_CLOSED = "Sign-up is closed on this server. Ask an administrator for an account.";
export const SIGN_UP_NEEDS_INVITATION =
  "Sign-up on this server needs an invitation: open the invitation link you received (for the address it was sent to).";

/**
 * Creates an account, answering exactly the same whether or not the address already has one (the
 * same value, after the same argon2id work), so the form cannot be used to find out who is
 * registered; the existing account's owner is told by e-mail instead, off the request's timing.
 * SIGNUP_MODE: closed refuses everyone; invite-only needs a valid invitation token (one sent to an
 * address is for that address only). An e-mailed invitation for this address verifies it.
 */
export async function signUp(input: z.input<typeof signUpSchema>, ip: string, mode: SignUpMode = env().SIGNUP_MODE): Promise<{ email: string }> {
  const data = signUpSchema.parse(input);
  if (mode === "closed") throw new PortcullisError("forbidden", SIGN_UP_CLOSED);
  const limit = await hitRateLimit(`signup:ip:${ip}`, env().SIGNUP_RATE_LIMIT, 3600);
  if (!limit.allowed) throw new PortcullisError("forbidden", "too many sign-ups from this address; try again later");
  const email = normalizeEmail(data.email);
  const invitation = data.invitationToken ? await findInvitation(data.invitationToken) : null;
  const invitationFits = invitation !== null && (invitation.email === null || invitation.email === email);
  if (mode === "invite-only" && !invitationFits) throw new PortcullisError("forbidden", SIGN_UP_NEEDS_INVITATION);

  const passwordHash = await hashPassword(data.password);
  // One statement either way (INSERT … ON CONFLICT DO NOTHING): the same work whether the address is new.
  const { count } = await getPrisma().user.createMany({
    data: [{ email, name: data.name || null, passwordHash, emailVerifiedAt: invitationFits && invitation.email === email ? new Date() : null }],
    skipDuplicates: true,
  });
  if (count === 0) {
    void tellOwnerOfSignUpAttempt(email).catch((mailError: unknown) => console.warn("[web] sign-up notice not sent:", (mailError as Error).message));
  }
  return { email };
}

async function tellOwnerOfSignUpAttempt(email: string): Promise<void> {
  await sendMail({
    to: email,
    subject: "Someone tried to create a Portcullis account with your address",
    text: `Someone (hopefully you) tried to create a new Portcullis account for ${email}, which already has one. Nothing was changed.\n\nSign in: ${env().publicUrl}/sign-in\nForgot your password? ${env().publicUrl}/forgot-password\n\nIf it was not you, you can ignore this email.`,
  });
}

const RESET_TTL_MS = 60 * 60 * 1000;

/**
 * Always answers the same way whether or not the email has an account, so the form cannot be used
 * to discover who is registered. The token is stored only as a hash.
 */
export async function requestPasswordReset(emailInput: string, ip: string): Promise<void> {
  const email = normalizeEmail(emailSchema.parse(emailInput));
  // Counted per address and source first: a limit per address alone let anyone use up a victim's
  // resets for the hour from their own machine. The per-address ceiling (all sources) still stops
  // mail-bombing; exhausting it takes many sources.
  const limitSource = await hitRateLimit(`reset:${email}:${ip}`, 3, 3600);
  const limitIp = await hitRateLimit(`reset:ip:${ip}`, 30, 3600);
  if (!limitSource.allowed || !limitIp.allowed) return;
  const limit = await hitRateLimit(`reset:${email}`, 20, 3600);
  if (!limit.allowed) return;
  const prisma = getPrisma();
  const user = await prisma.user.findUnique({ where: { email } });
  if (!user) return;
  const token = randomToken();
  await prisma.passwordResetToken.create({
    data: { userId: user.id, tokenHash: sha256Hex(token), expiresAt: new Date(Date.now() + RESET_TTL_MS) },
  });
  const url = `${env().publicUrl}/reset-password/${token}`;
  await sendMail({
    to: email,
    subject: "Reset your Portcullis password",
    text: `Someone (hopefully you) asked to reset the password of ${email} on Portcullis.\n\nSet a new password here (valid for 1 hour, once):\n${url}\n\nIf it was not you, ignore this email: your password is unchanged.`,
  });
}

export async function resetPassword(token: string, password: string): Promise<{ email: string }> {
  const newPassword = passwordSchema.parse(password);
  z.string().max(256).parse(token);
  const prisma = getPrisma();
  const record = await prisma.passwordResetToken.findUnique({ where: { tokenHash: sha256Hex(token) }, include: { user: true } });
  if (!record || record.usedAt || record.expiresAt < new Date()) {
    throw new PortcullisError("invalid_input", "this reset link has expired or was already used; ask for a new one");
  }
  const passwordHash = await hashPassword(newPassword);
  await prisma.$transaction([
    prisma.passwordResetToken.update({ where: { id: record.id }, data: { usedAt: new Date() } }),
    // A reset also signs every other browser out, and verifies the address (the link came by e-mail).
    prisma.user.update({
      where: { id: record.userId },
      data: { passwordHash, failedLoginCount: 0, lockedUntil: null, emailVerifiedAt: record.user.emailVerifiedAt ?? new Date() },
    }),
    prisma.session.updateMany({ where: { userId: record.userId, revokedAt: null }, data: { revokedAt: new Date() } }),
  ]);
  await clearSignInFailures(record.user.email);
  return { email: record.user.email };
}
