import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { PASSWORD, screenshot, signIn, signUp, uniqueEmail, webUrl } from "./support/stack";

const WEB_LOG = process.env.E2E_WEB_LOG ?? "";

test("invitation by link, roles, and another team's pages answer 404", async ({ browser }) => {
  const owner = await browser.newPage();
  await signUp(owner, "Owner", uniqueEmail("owner"));
  await owner.waitForURL(/onboarding/);
  await owner.getByLabel("Team name").fill("Invite Co");
  await owner.getByRole("button", { name: "Create team" }).click();
  await owner.waitForURL(/\/t\/[^/]+$/);
  const slug = new URL(owner.url()).pathname.split("/")[2]!;
  await owner.goto(webUrl(`/t/${slug}/settings`));
  await owner.getByLabel("Role", { exact: true }).selectOption("viewer");
  await owner.getByRole("button", { name: "Invite" }).click();
  const inviteUrl = (await owner.getByTestId("invite-url").textContent())!.trim();

  const viewerCtx = await browser.newContext();
  const viewer = await viewerCtx.newPage();
  await viewer.goto(inviteUrl);
  await expect(viewer.getByRole("heading", { name: "Join Invite Co" })).toBeVisible();
  await viewer.getByRole("link", { name: "Create an account to join" }).click();
  await viewer.getByLabel("Name").fill("Vera Viewer");
  await viewer.getByLabel("Work email").fill(uniqueEmail("viewer"));
  await viewer.getByLabel("Password").fill(PASSWORD);
  await viewer.getByRole("button", { name: "Create account" }).click();
  await viewer.waitForURL(/\/invite\//);
  await viewer.getByRole("button", { name: "Accept invitation" }).click();
  await viewer.waitForURL(new RegExp(`/t/${slug}$`));
  // Viewers read; they cannot add connections (the page itself is refused on the server).
  const denied = await viewer.goto(webUrl(`/t/${slug}/connections/new`));
  expect(denied?.status()).toBe(404);
  await viewer.goto(webUrl(`/t/${slug}/connections`));
  await expect(viewer.getByText("An owner or admin of this team adds connections.")).toBeVisible();
  // The invitation is single-use.
  await viewer.goto(inviteUrl);
  await expect(viewer.getByText("This invitation is no longer valid")).toBeVisible();

  // Someone from another team gets 404 on every page of this one, never a hint it exists.
  const outsiderCtx = await browser.newContext();
  const outsider = await outsiderCtx.newPage();
  await signUp(outsider, "Mallory", uniqueEmail("mallory"));
  await outsider.waitForURL(/onboarding/);
  for (const p of ["", "/connections", "/links", "/activity", "/settings", "/keys", "/schema"]) {
    const res = await outsider.goto(webUrl(`/t/${slug}${p}`));
    expect(res?.status(), `/t/${slug}${p}`).toBe(404);
  }
  const exported = await outsider.request.get(webUrl(`/t/${slug}/activity/export?format=csv`));
  expect(exported.status()).toBe(404);
  await Promise.all([viewerCtx.close(), outsiderCtx.close()]);
});

test("progressive delay after repeated failures from one address, and password reset through the server log", async ({ page }) => {
  const email = uniqueEmail("locked");
  await signUp(page, "Lou", email);
  await page.waitForURL(/onboarding/);
  await page.context().clearCookies();
  for (let i = 0; i < 2; i++) {
    await signIn(page, email, "not the password at all");
    await expect(page.getByText("Wrong email or password.", { exact: true })).toBeVisible();
  }
  // Beyond the free attempts this address (and only this address) must wait before the next try for
  // this account; the delay doubles with each further failure (per-account lockouts let anyone lock
  // anyone out: apps/web/test/auth-signin.int.test.ts attacks that from other addresses).
  await signIn(page, email, "not the password at all");
  await expect(page.getByText(/Wrong email or password\. Too many failed sign-ins for this account from your address: wait \d+ seconds/)).toBeVisible();
  // Even the right password waits for the delay to lapse.
  await signIn(page, email, PASSWORD);
  await expect(page.getByText(/Too many failed sign-ins for this account from your address: wait \d+ seconds/)).toBeVisible();

  await page.goto(webUrl("/forgot-password"));
  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Send reset link" }).click();
  await expect(page.getByText(/reset link is on its way/)).toBeVisible();
  // No SMTP_URL in the e2e stack: the message is printed to the dashboard's log.
  let resetUrl: string | undefined;
  await expect(async () => {
    const log = readFileSync(WEB_LOG, "utf8");
    const block = log.slice(log.lastIndexOf(`To: ${email}`));
    resetUrl = /https?:\/\/\S+\/reset-password\/\S+/.exec(block)?.[0];
    expect(resetUrl).toBeTruthy();
  }).toPass({ timeout: 5000 });
  await page.goto(resetUrl!);
  await page.getByLabel("New password").fill("a brand new passphrase");
  await page.getByLabel("Repeat it").fill("a brand new passphrase");
  await page.getByRole("button", { name: "Set password" }).click();
  await expect(page.getByText(/password is changed/)).toBeVisible();
  await signIn(page, email, "a brand new passphrase");
  await page.waitForURL(/onboarding/);
});

test("signing out kills the session on the server, not just in the browser", async ({ browser }) => {
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  const email = uniqueEmail("session");
  await signUp(page, "Sam", email);
  await page.waitForURL(/onboarding/);
  // A second browser, signed out from the first one's account page.
  const laptop = await browser.newContext();
  const laptopPage = await laptop.newPage();
  await signIn(laptopPage, email);
  await laptopPage.waitForURL(/onboarding/);
  await page.goto(webUrl("/account"));
  await expect(page.getByText("This browser")).toBeVisible();
  await page.getByRole("button", { name: "Sign out other sessions" }).click();
  await expect(page.getByText("Signed out 1 other session.")).toBeVisible();
  await screenshot(page, "account");
  await laptopPage.goto(webUrl("/onboarding"));
  await expect(laptopPage).toHaveURL(/\/sign-in/);
  await laptop.close();
  await page.goto(webUrl("/onboarding"));
  const stolen = await ctx.cookies();
  await page.getByLabel("Team name").fill("Session Co");
  await page.getByRole("button", { name: "Create team" }).click();
  await page.waitForURL(/\/t\/[^/]+$/);
  const teamPath = new URL(page.url()).pathname;
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.waitForURL(/sign-in/);
  // Replaying the old cookie (a copied token) no longer works: its sessions row is revoked.
  const replay = await browser.newContext();
  await replay.addCookies(stolen);
  const again = await replay.newPage();
  await again.goto(webUrl(teamPath));
  await expect(again).toHaveURL(/\/sign-in/);
  await Promise.all([ctx.close(), replay.close()]);
});

test("a member sees only the links they were granted and only their own keys", async ({ browser }) => {
  const { createPrismaClient } = await import("@portcullis/db/client");
  const { addConnection, addMember, createApiKey, createLink, createTeam, createUser } = await import("@portcullis/db/operations");
  const { parseTargetUrl } = await import("@portcullis/db/target");
  const prisma = createPrismaClient(process.env.DATABASE_URL!);
  try {
    const ownerUser = await createUser(prisma, { email: uniqueEmail("o"), password: PASSWORD });
    const memberEmail = uniqueEmail("m");
    const memberUser = await createUser(prisma, { email: memberEmail, password: PASSWORD, name: "Mia Member" });
    const team = await createTeam(prisma, { name: "Grants Co", ownerId: ownerUser.id });
    await addMember(prisma, { teamId: team.id, userId: memberUser.id, role: "member" });
    const connection = await addConnection(prisma, { teamId: team.id, name: "db", fields: { ...parseTargetUrl(process.env.E2E_CHINOOK_URL!), sslMode: "disable" } });
    const granted = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "granted-link", scope: { access: "read" } });
    const secret = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: "secret-link", scope: { access: "read" } });
    await prisma.linkAccess.create({ data: { linkId: granted.id, userId: memberUser.id } });
    await createApiKey(prisma, { teamId: team.id, linkId: secret.id, userId: ownerUser.id, name: "owners-key" });

    const page = await (await browser.newContext()).newPage();
    await signIn(page, memberEmail);
    await page.waitForURL(new RegExp(`/t/${team.slug}$`));
    await page.goto(webUrl(`/t/${team.slug}/links`));
    await expect(page.getByRole("link", { name: "granted-link" })).toBeVisible();
    await expect(page.getByText("secret-link")).toHaveCount(0);
    expect((await page.goto(webUrl(`/t/${team.slug}/links/${secret.id}`)))?.status()).toBe(404);
    await page.goto(webUrl(`/t/${team.slug}/links/${granted.id}`));
    await page.getByLabel("Key name").fill("mia-laptop");
    await page.getByRole("button", { name: "Create key" }).click();
    await expect(page.getByTestId("new-api-key")).toBeVisible();
    await page.goto(webUrl(`/t/${team.slug}/keys`));
    await expect(page.getByRole("cell", { name: "mia-laptop" })).toBeVisible();
    await expect(page.getByText("owners-key")).toHaveCount(0);
    await screenshot(page, "keys-member-view");
    // Members cannot manage the team.
    expect((await page.goto(webUrl(`/t/${team.slug}/links/new`)))?.status()).toBe(404);
    await page.goto(webUrl(`/t/${team.slug}/settings`));
    await expect(page.getByRole("button", { name: "Invite" })).toHaveCount(0);
  } finally {
    await prisma.$disconnect();
  }
});
