import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * Password sign-in against guessing and against lock-out (issue 12): five wrong passwords from anyone
 * used to lock any account. Judged by what the owner can still do and by the rows the attempts leave.
 */
let meta: TestDatabase;
let prisma: import("@portcullis/db/client").PrismaClient;
let credentials: typeof import("../src/features/auth/credentials");
const PASSWORD = "the owner's long password";
const ATTACKER = "203.0.113.66";
const OWNER = "198.51.100.7";

async function newUser(label: string) {
  const { createUser } = await import("@portcullis/db/operations");
  return createUser(prisma, { email: `${label}-${randomBytes(4).toString("hex")}@example.com`, password: PASSWORD });
}

/** Lets a source's current delay lapse, as if its wait had passed. */
async function letWaitLapse(source: string) {
  await prisma.$executeRaw`UPDATE sign_in_failures SET locked_until = now() - interval '1 second' WHERE source = ${source}`;
}

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  process.env.REDIS_KEY_PREFIX = `signin${randomBytes(3).toString("hex")}`;
  process.env.AUTH_RATE_LIMIT = "1000";
  credentials = await import("../src/features/auth/credentials");
  prisma = (await import("../src/lib/db")).getPrisma();
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

describe("sign-in lockout is per account and source", () => {
  it("an attacker failing 30 times does not lock the owner out from the owner's address", async () => {
    const victim = await newUser("victim");
    for (let i = 0; i < 30; i++) {
      await letWaitLapse(ATTACKER);
      const attempt = await credentials.checkCredentials(victim.email, `wrong guess ${i}`, ATTACKER);
      expect(attempt.ok).toBe(false);
    }
    const owner = await credentials.checkCredentials(victim.email, PASSWORD, OWNER);
    expect(owner.ok).toBe(true);
    const row = await prisma.user.findUniqueOrThrow({ where: { id: victim.id } });
    expect(row.lockedUntil).toBeNull();
    expect(row.lastLoginAt).not.toBeNull();
  });

  it("delays a guessing source progressively, refusing even the right password while it must wait", async () => {
    const victim = await newUser("delayed");
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await credentials.checkCredentials(victim.email, `wrong ${i}`, ATTACKER));
    expect(results.slice(0, 2).map((r) => (r.ok ? "ok" : r.error))).toEqual(["Wrong email or password.", "Wrong email or password."]);
    expect(results[2]!.ok ? "" : results[2]!.error).toMatch(/wait 5 seconds/);
    // The fourth came while the source had to wait: refused without a password check.
    expect(results[3]!.ok ? "" : results[3]!.error).toMatch(/Too many failed sign-ins/);
    const right = await credentials.checkCredentials(victim.email, PASSWORD, ATTACKER);
    expect(right.ok).toBe(false);
    const [state] = await prisma.$queryRaw<{ failures: number; wait: number }[]>`
      SELECT failures, extract(epoch FROM locked_until - now())::int AS wait FROM sign_in_failures WHERE source = ${ATTACKER}
        AND email_hash = (SELECT email_hash FROM sign_in_failures WHERE source = ${ATTACKER} ORDER BY last_failure_at DESC LIMIT 1)`;
    expect(state!.failures).toBe(3);
    expect(state!.wait).toBeGreaterThan(0);
    expect(credentials.delaySeconds(4)).toBe(10);
    expect(credentials.delaySeconds(12)).toBe(credentials.MAX_DELAY_SECONDS);
    // Once the wait lapses, the right password works and clears the source's count.
    await letWaitLapse(ATTACKER);
    expect((await credentials.checkCredentials(victim.email, PASSWORD, ATTACKER)).ok).toBe(true);
    const left = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS n FROM sign_in_failures WHERE source = ${ATTACKER} AND failures > 0 AND last_failure_at > now() - interval '1 second' AND locked_until > now()`;
    expect(left[0]!.n).toBe(0);
  });

  it("parallel guesses cannot slip past the delay", async () => {
    const victim = await newUser("parallel");
    const source = "203.0.113.99";
    const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => credentials.checkCredentials(victim.email, `parallel ${i}`, source)));
    const checked = burst.filter((r) => !r.ok && r.error.startsWith("Wrong email or password"));
    expect(checked.length).toBeLessThanOrEqual(3);
  });

  it("an unknown e-mail gets exactly the answers a known one gets", async () => {
    const known = await newUser("known");
    const unknown = `nobody-${randomBytes(4).toString("hex")}@example.com`;
    const answers = async (email: string, source: string) => {
      const out: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await credentials.checkCredentials(email, `guess ${i}`, source);
        out.push(r.ok ? "ok" : r.error);
      }
      return out;
    };
    expect(await answers(unknown, "192.0.2.1")).toEqual(await answers(known.email, "192.0.2.2"));
  });

  it("a spread-out attack slows only the sources that failed, never a clean one", async () => {
    const victim = await newUser("spread");
    for (let i = 0; i < credentials.ACCOUNT_ALARM; i++) {
      await credentials.checkCredentials(victim.email, `botnet ${i}`, `10.9.${Math.floor(i / 200)}.${i % 200}`);
    }
    await prisma.$executeRaw`UPDATE sign_in_failures SET locked_until = NULL`;
    const failed = await credentials.checkCredentials(victim.email, PASSWORD, "10.9.0.1");
    expect(failed.ok).toBe(false);
    expect((await credentials.checkCredentials(victim.email, PASSWORD, OWNER)).ok).toBe(true);
  });
});

describe("password reset cannot be used up by someone else", () => {
  it("an attacker asking for a victim's resets over and over does not stop the victim getting one", async () => {
    const { requestPasswordReset } = await import("../src/features/auth/account-operations");
    const victim = await newUser("reset-victim");
    for (let i = 0; i < 10; i++) await requestPasswordReset(victim.email, ATTACKER);
    const fromAttacker = await prisma.passwordResetToken.count({ where: { userId: victim.id } });
    expect(fromAttacker).toBe(3);
    await requestPasswordReset(victim.email, OWNER);
    expect(await prisma.passwordResetToken.count({ where: { userId: victim.id } })).toBe(fromAttacker + 1);
  });
});
