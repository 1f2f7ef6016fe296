import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import { useDashboardEnv } from "./support/dashboard-env";

/**
 * GitHub/Google sign-in linking (issue 12): it used to link to any password account with the same
 * e-mail, verified or not, so whoever registered a victim's address first received the victim's own
 * GitHub sign-in. Judged by the accounts rows (who the identity is linked to) and the users created.
 */
let meta: TestDatabase;
let prisma: import("@portcullis/db/client").PrismaClient;
let link: typeof import("../src/features/auth/oauth-link");

beforeAll(async () => {
  meta = await createMetadataDatabase();
  useDashboardEnv(meta.url);
  link = await import("../src/features/auth/oauth-link");
  prisma = (await import("../src/lib/db")).getPrisma();
}, 120_000);

afterAll(async () => {
  await prisma?.$disconnect();
  await meta?.drop();
});

const email = (label: string) => `${label}-${randomBytes(4).toString("hex")}@example.com`;
const identity = (address: string, emailVerified: boolean) => ({
  provider: "github",
  providerAccountId: randomBytes(6).toString("hex"),
  email: address,
  emailVerified,
  name: "Someone",
});

describe("external sign-in linking", () => {
  it("never links to a password account whose address was not verified (pre-registration takeover)", async () => {
    const victimAddress = email("victim");
    const { createUser } = await import("@portcullis/db/operations");
    const squatter = await createUser(prisma, { email: victimAddress, password: "the attacker's password" });
    const decision = await link.resolveExternalSignIn(prisma, identity(victimAddress, true), "open");
    expect(decision.ok).toBe(false);
    expect(await prisma.account.count({ where: { userId: squatter.id } })).toBe(0);
  });

  it("never links when the provider has not verified the address", async () => {
    const address = email("verified-owner");
    const owner = await prisma.user.create({ data: { email: address, emailVerifiedAt: new Date() } });
    const decision = await link.resolveExternalSignIn(prisma, identity(address, false), "open");
    expect(decision.ok).toBe(false);
    expect(await prisma.account.count({ where: { userId: owner.id } })).toBe(0);
  });

  it("links when both the provider and the account have verified the address, and signs in as it afterwards", async () => {
    const address = email("both");
    const user = await prisma.user.create({ data: { email: address, emailVerifiedAt: new Date() } });
    // The provider's spelling of the address may differ in case.
    const id = { ...identity(address, true), email: address.toUpperCase() };
    const first = await link.resolveExternalSignIn(prisma, id, "open");
    expect(first).toEqual({ ok: true, userId: user.id, created: false, linked: true });
    const again = await link.resolveExternalSignIn(prisma, { ...id, email: "changed@example.com", emailVerified: false }, "closed");
    expect(again).toEqual({ ok: true, userId: user.id, created: false, linked: false });
    expect(await prisma.account.count({ where: { userId: user.id } })).toBe(1);
  });

  it("creates an account only when sign-up is open", async () => {
    for (const mode of ["closed", "invite-only"] as const) {
      const address = email(mode);
      const decision = await link.resolveExternalSignIn(prisma, identity(address, true), mode);
      expect(decision.ok).toBe(false);
      expect(await prisma.user.count({ where: { email: address } })).toBe(0);
    }
    const address = email("open");
    const decision = await link.resolveExternalSignIn(prisma, identity(address, true), "open");
    expect(decision).toMatchObject({ ok: true, created: true });
    const created = await prisma.user.findUniqueOrThrow({ where: { email: address }, include: { accounts: true } });
    expect(created.emailVerifiedAt).not.toBeNull();
    expect(created.accounts).toHaveLength(1);
  });
});
