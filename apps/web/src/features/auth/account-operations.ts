import { z } from "zod";
import { createUser, normalizeEmail } from "@portcullis/db/operations";
import { hashPassword, MIN_PASSWORD_LENGTH } from "@portcullis/db/passwords";
import { randomToken, sha256Hex } from "@portcullis/db/keys";
import { PortcullisError } from "@portcullis/db/errors";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { sendMail } from "../../lib/mail";
import { hitRateLimit } from "../../lib/rate-limit";

export const passwordSchema = z
  .string()
  .min(MIN_PASSWORD_LENGTH, `use at least ${MIN_PASSWORD_LENGTH} characters`)
  .max(256, "use at most 256 characters");

export const signUpSchema = z.object({
  name: z.string().trim().max(100).optional(),
  email: z.string().trim().email("enter a valid email address"),
  password: passwordSchema,
});

export async function signUp(input: z.input<typeof signUpSchema>, ip: string) {
  const data = signUpSchema.parse(input);
  const limit = await hitRateLimit(`signup:ip:${ip}`, env().SIGNUP_RATE_LIMIT, 3600);
  if (!limit.allowed) throw new PortcullisError("forbidden", "too many sign-ups from this address; try again later");
  const user = await createUser(getPrisma(), { email: data.email, password: data.password, name: data.name });
  return { id: user.id, email: user.email };
}

const RESET_TTL_MS = 60 * 60 * 1000;

/**
 * Always answers the same way whether or not the email has an account, so the form cannot be used
 * to discover who is registered. The token is stored only as a hash.
 */
export async function requestPasswordReset(emailInput: string, ip: string): Promise<void> {
  const email = normalizeEmail(z.string().email("enter a valid email address").parse(emailInput.trim()));
  const limit = await hitRateLimit(`reset:${email}`, 5, 3600);
  const limitIp = await hitRateLimit(`reset:ip:${ip}`, 30, 3600);
  if (!limit.allowed || !limitIp.allowed) return;
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
  const prisma = getPrisma();
  const record = await prisma.passwordResetToken.findUnique({ where: { tokenHash: sha256Hex(token) }, include: { user: true } });
  if (!record || record.usedAt || record.expiresAt < new Date()) {
    throw new PortcullisError("invalid_input", "this reset link has expired or was already used; ask for a new one");
  }
  const passwordHash = await hashPassword(newPassword);
  await prisma.$transaction([
    prisma.passwordResetToken.update({ where: { id: record.id }, data: { usedAt: new Date() } }),
    // A reset also unlocks the account and signs every other browser out.
    prisma.user.update({ where: { id: record.userId }, data: { passwordHash, failedLoginCount: 0, lockedUntil: null } }),
    prisma.session.updateMany({ where: { userId: record.userId, revokedAt: null }, data: { revokedAt: new Date() } }),
  ]);
  return { email: record.user.email };
}
