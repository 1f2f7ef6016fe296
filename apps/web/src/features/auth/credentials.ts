import { normalizeEmail } from "@portcullis/db/operations";
import { verifyPassword } from "@portcullis/db/passwords";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { hitRateLimit } from "../../lib/rate-limit";

/** Consecutive failures that lock an account, and for how long (doubling per further failure). */
export const LOCKOUT_THRESHOLD = 5;
export const LOCKOUT_BASE_MINUTES = 15;
const WINDOW_SECONDS = 15 * 60;

export type CredentialCheck =
  | { ok: true; user: { id: string; email: string; name: string | null } }
  | { ok: false; error: string };

const GENERIC = "Wrong email or password.";

/**
 * Password sign-in with three layers against guessing: a per-IP and per-email rate limit in Redis
 * (shared by every dashboard instance), a per-account lockout after repeated failures (kept in
 * PostgreSQL, so it survives Redis), and argon2id work spent even for unknown emails so timing does
 * not reveal which accounts exist.
 */
export async function checkCredentials(emailInput: string, password: string, ip: string): Promise<CredentialCheck> {
  const email = normalizeEmail(emailInput);
  if (!email || !password) return { ok: false, error: "Enter your email and password." };
  const limit = env().AUTH_RATE_LIMIT;
  const [byIp, byEmail] = await Promise.all([
    hitRateLimit(`signin:ip:${ip}`, limit * 3, WINDOW_SECONDS),
    hitRateLimit(`signin:email:${email}`, limit, WINDOW_SECONDS),
  ]);
  if (!byIp.allowed || !byEmail.allowed) {
    const minutes = Math.ceil(Math.max(byIp.retryAfterSeconds, byEmail.retryAfterSeconds) / 60);
    return { ok: false, error: `Too many sign-in attempts. Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.` };
  }

  const prisma = getPrisma();
  const user = await prisma.user.findUnique({ where: { email } });
  if (user?.lockedUntil && user.lockedUntil > new Date()) {
    // No password check while locked: a correct guess must not be confirmed during the lockout.
    return { ok: false, error: `This account is locked after repeated failed sign-ins until ${user.lockedUntil.toISOString().slice(11, 16)} UTC. Reset your password to unlock it now.` };
  }
  const valid = await verifyPassword(user?.passwordHash, password);
  if (!user || !valid) {
    if (user) {
      const failures = user.failedLoginCount + 1;
      const lock = failures >= LOCKOUT_THRESHOLD;
      const minutes = LOCKOUT_BASE_MINUTES * 2 ** Math.min(failures - LOCKOUT_THRESHOLD, 6);
      await prisma.user.update({
        where: { id: user.id },
        data: { failedLoginCount: failures, lockedUntil: lock ? new Date(Date.now() + minutes * 60_000) : null },
      });
      if (lock) return { ok: false, error: `Too many failed sign-ins: this account is locked for ${minutes} minutes. Reset your password to unlock it now.` };
    }
    return { ok: false, error: GENERIC };
  }
  await prisma.user.update({
    where: { id: user.id },
    data: { failedLoginCount: 0, lockedUntil: null, lastLoginAt: new Date() },
  });
  return { ok: true, user: { id: user.id, email: user.email, name: user.name } };
}
