import { normalizeEmail } from "@portcullis/db/operations";
import { verifyPassword } from "@portcullis/db/passwords";
import { sha256Hex } from "@portcullis/db/keys";
import { getPrisma } from "../../lib/db";
import { env } from "../../lib/env";
import { hitRateLimit } from "../../lib/rate-limit";

/** Failures in a row, from one source for one account, before each further attempt must wait. */
export const FREE_ATTEMPTS = 2;
/** The wait after the first failure beyond the free ones; it doubles with each further failure. */
export const BASE_DELAY_SECONDS = 5;
export const MAX_DELAY_SECONDS = 15 * 60;
/**
 * Failures against one account from every source together (15 minutes) beyond which sources that
 * have failed on it must wait for their own delay to lapse again (a spread-out attack). Sources
 * without failures on the account (its owner, most of the time) are never held back by it.
 */
export const ACCOUNT_ALARM = 100;
const WINDOW_SECONDS = 15 * 60;

export type CredentialCheck =
  | { ok: true; user: { id: string; email: string; name: string | null } }
  | { ok: false; error: string };

const GENERIC = "Wrong email or password.";

/**
 * Password sign-in, guarded per account AND source: failures from one address slow down only that
 * address for that account (progressively: 5 s, 10 s, 20 s … 15 min), so nobody can lock a victim
 * out from their own machine, as the old per-account lockout let anyone do. Each attempt is counted
 * as a failure before the password is checked (one atomic upsert that refuses while the source waits),
 * so parallel requests cannot slip past the delay; a success clears the source's count. Unknown
 * e-mails are treated exactly like known ones (same counting, same messages, argon2id work spent),
 * so neither timing nor delays tell which accounts exist. A per-IP limit in Redis bounds everything.
 */
export async function checkCredentials(emailInput: string, password: string, ip: string): Promise<CredentialCheck> {
  const email = normalizeEmail(emailInput);
  if (!email || !password) return { ok: false, error: "Enter your email and password." };
  const byIp = await hitRateLimit(`signin:ip:${ip}`, env().AUTH_RATE_LIMIT * 3, WINDOW_SECONDS);
  if (!byIp.allowed) {
    const minutes = Math.ceil(byIp.retryAfterSeconds / 60);
    return { ok: false, error: `Too many sign-in attempts from your address. Try again in ${minutes} minute${minutes === 1 ? "" : "s"}.` };
  }

  const prisma = getPrisma();
  const emailHash = sha256Hex(`sign-in:${email}`);
  const source = ip.slice(0, 64);
  if (Math.random() < 0.01) {
    await prisma.$executeRaw`DELETE FROM sign_in_failures WHERE last_failure_at < now() - interval '1 day'`;
  }

  const [account] = await prisma.$queryRaw<{ total: number; mine: number }[]>`
    SELECT coalesce(sum(failures), 0)::int AS total,
           coalesce(sum(failures) FILTER (WHERE source = ${source}), 0)::int AS mine
    FROM sign_in_failures
    WHERE email_hash = ${emailHash} AND last_failure_at > now() - make_interval(secs => ${WINDOW_SECONDS})`;
  if (account && account.total >= ACCOUNT_ALARM && account.mine > 0) {
    return { ok: false, error: waitMessage(MAX_DELAY_SECONDS) };
  }

  // Claim the attempt: counted as a failure now, refused (no row back) while this source must wait.
  const claimed = await prisma.$queryRaw<{ failures: number }[]>`
    INSERT INTO sign_in_failures AS f (email_hash, source, failures, last_failure_at, locked_until)
    VALUES (${emailHash}, ${source}, 1, now(), NULL)
    ON CONFLICT (email_hash, source) DO UPDATE
      SET failures = f.failures + 1,
          last_failure_at = now(),
          locked_until = CASE WHEN f.failures + 1 > ${FREE_ATTEMPTS}
            THEN now() + make_interval(secs => least(${MAX_DELAY_SECONDS}, ${BASE_DELAY_SECONDS} * power(2, least(f.failures + 1 - ${FREE_ATTEMPTS} - 1, 20)))::int)
            ELSE NULL END
      WHERE f.locked_until IS NULL OR f.locked_until <= now()
    RETURNING failures`;
  if (claimed.length === 0) {
    const [row] = await prisma.$queryRaw<{ wait: number }[]>`
      SELECT greatest(1, ceil(extract(epoch FROM locked_until - now())))::int AS wait
      FROM sign_in_failures WHERE email_hash = ${emailHash} AND source = ${source}`;
    return { ok: false, error: waitMessage(row?.wait ?? BASE_DELAY_SECONDS) };
  }

  const user = await prisma.user.findUnique({ where: { email } });
  const valid = await verifyPassword(user?.passwordHash, password);
  if (!user || !valid) {
    const failures = claimed[0]!.failures;
    if (failures > FREE_ATTEMPTS) return { ok: false, error: `${GENERIC} ${waitMessage(delaySeconds(failures))}` };
    return { ok: false, error: GENERIC };
  }
  await prisma.$executeRaw`DELETE FROM sign_in_failures WHERE email_hash = ${emailHash} AND source = ${source}`;
  await prisma.user.update({ where: { id: user.id }, data: { failedLoginCount: 0, lockedUntil: null, lastLoginAt: new Date() } });
  return { ok: true, user: { id: user.id, email: user.email, name: user.name } };
}

/** The wait imposed after the n-th failure in a row from one source (0 for the free attempts). */
export function delaySeconds(failures: number): number {
  if (failures <= FREE_ATTEMPTS) return 0;
  return Math.min(MAX_DELAY_SECONDS, BASE_DELAY_SECONDS * 2 ** Math.min(failures - FREE_ATTEMPTS - 1, 20));
}

/** Forgets a source's failures for an e-mail (password reset: the owner proved control of the address). */
export async function clearSignInFailures(emailInput: string): Promise<void> {
  const emailHash = sha256Hex(`sign-in:${normalizeEmail(emailInput)}`);
  await getPrisma().$executeRaw`DELETE FROM sign_in_failures WHERE email_hash = ${emailHash}`;
}

function waitMessage(seconds: number): string {
  const text = seconds < 90 ? `${seconds} second${seconds === 1 ? "" : "s"}` : `${Math.ceil(seconds / 60)} minutes`;
  return `Too many failed sign-ins for this account from your address: wait ${text} before trying again, or reset your password.`;
}
