import { mkdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test, type Page } from "@playwright/test";
import { chinookUrl, PASSWORD, signIn, uniqueEmail, webUrl } from "./support/stack";
import { startSshd, type TestSshd } from "../packages/db/src/testing/sshd";

/**
 * Issue 17 in the connection form, in real Chromium against the real stack: a connection through a
 * real OpenSSH bastion. The first test stops at the bastion's host key and shows the fingerprint
 * (ssh-keygen's, from the server's key file); Confirm pins exactly that one and tests again; a wrong
 * database password is explained at the PostgreSQL login stage; the saved route is in the database with
 * the key pinned and the private key sealed. The bastion listens on loopback, on the port global setup
 * reserved and added to the stack's TARGET_ALLOW_ADDRESSES (the first hop is what the dashboard dials;
 * the database behind it is dialled by the bastion). Test traffic stays on loopback.
 */
test.describe.configure({ mode: "serial" });

let sshd: TestSshd;
let slug: string;
let email: string;
let teamId: string;

/** The loopback port global setup reserved for the bastion and allowed as a target; no port, no test run. */
function bastionPort(): number {
  const port = Number(process.env.E2E_SSH_BASTION_PORT);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`E2E_SSH_BASTION_PORT is not a port ("${process.env.E2E_SSH_BASTION_PORT ?? ""}"): e2e/support/global-setup.ts reserves it`);
  return port;
}

test.beforeAll(async () => {
  sshd = await startSshd({ listenAddress: "127.0.0.1", port: bastionPort() });
  const { createPrismaClient } = await import("@portcullis/db/client");
  const { createTeam, createUser } = await import("@portcullis/db/operations");
  const prisma = createPrismaClient(process.env.DATABASE_URL!);
  try {
    email = uniqueEmail("tunnel-admin");
    const user = await createUser(prisma, { email, password: PASSWORD, name: "Tunnel admin" });
    const team = await createTeam(prisma, { name: `Tunnels ${randomBytes(3).toString("hex")}`, ownerId: user.id });
    slug = team.slug;
    teamId = team.id;
  } finally {
    await prisma.$disconnect();
  }
});

test.afterAll(async () => {
  await sshd?.stop();
});

async function fillDatabase(page: Page, password: string) {
  const db = new URL(chinookUrl());
  await page.getByRole("tab", { name: "Individual fields" }).click();
  await page.getByLabel("Host", { exact: true }).fill(db.hostname);
  await page.getByLabel("Port", { exact: true }).fill(db.port || "5432");
  await page.getByLabel("Database", { exact: true }).fill(db.pathname.slice(1));
  await page.getByLabel("User", { exact: true }).fill(decodeURIComponent(db.username));
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByLabel("SSL mode").selectOption("disable");
}

/** README picture of the SSH section (docs/screenshots only with UPDATE_SCREENSHOTS=1, as the other pictures). */
async function sectionScreenshot(page: Page, name: string) {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const dir = process.env.UPDATE_SCREENSHOTS ? path.resolve(here, "../docs/screenshots") : path.resolve(here, "test-results/screenshots");
  mkdirSync(dir, { recursive: true });
  await page.locator("form[data-connection-form]").screenshot({ path: path.join(dir, `${name}.png`) });
}

test("a connection through an SSH bastion: the host key shown, confirmed, the test passes; a wrong password is the login stage in words", async ({ page }) => {
  const dbPassword = decodeURIComponent(new URL(chinookUrl()).password);
  await signIn(page, email);
  await page.waitForURL(/\/t\//);
  await page.goto(webUrl(`/t/${slug}/connections/new`));
  await page.getByLabel("Name").fill("behind the bastion");
  await fillDatabase(page, dbPassword);

  // Collapsed until used.
  const ssh = page.locator('details[data-section="ssh"]');
  await expect(ssh.getByLabel("SSH host")).toBeHidden();
  await ssh.locator("summary").click();
  await ssh.getByRole("button", { name: "Connect through an SSH bastion" }).click();
  await ssh.getByLabel("SSH host").fill(sshd.host);
  await ssh.getByLabel("SSH port").fill(String(sshd.port));
  await ssh.getByLabel("SSH user").fill(sshd.username);
  await ssh.getByLabel("Private key", { exact: true }).fill(sshd.clientKeys.ed25519.privateKey);
  await expect(ssh.getByTestId("ssh-pinned-0")).toContainText("not confirmed yet");

  await page.getByRole("button", { name: "Test connection" }).click();
  const failure = page.getByTestId("connection-test-failure");
  await expect(failure).toHaveAttribute("data-stage", "ssh_host_key");
  await expect(failure.getByText("SSH host key not confirmed")).toBeVisible();
  const offered = failure.getByTestId("host-key-0");
  // The fingerprint ssh-keygen printed for the bastion's host key file.
  await expect(offered.getByTestId("offered-fingerprint")).toHaveText(sshd.hostKeyFingerprint);
  await sectionScreenshot(page, "connection-ssh");

  const logins = (sshd.log().match(/Accepted publickey/g) ?? []).length;
  await offered.getByRole("button", { name: "Confirm this host key and test again" }).click();
  await expect(page.getByText("Connected")).toBeVisible();
  await expect(page.getByText(/PostgreSQL \d+.*round trip [\d.]+ ms/)).toBeVisible();
  await expect(ssh.getByTestId("ssh-pinned-0")).toContainText(sshd.hostKeyFingerprint);
  // The test went through the bastion: sshd logged the key login.
  expect((sshd.log().match(/Accepted publickey/g) ?? []).length).toBeGreaterThan(logins);

  // A wrong database password, same route: the PostgreSQL login stage, in words, with what to do.
  await page.getByLabel("Password", { exact: true }).fill("not-the-password");
  await page.getByRole("button", { name: "Test connection" }).click();
  await expect(failure).toHaveAttribute("data-stage", "pg_auth");
  await expect(failure.getByText("PostgreSQL refused the login")).toBeVisible();
  await expect(failure).toContainText(/password/i);
  await expect(failure).toContainText("What to do:");

  await page.getByLabel("Password", { exact: true }).fill(dbPassword);
  await page.getByRole("button", { name: "Test and add connection" }).click();
  await page.waitForURL(/\/connections$/);
  await expect(page.getByRole("link", { name: "behind the bastion" })).toBeVisible();

  // What was stored: the route with exactly the confirmed key, the private key only sealed.
  const { createPrismaClient } = await import("@portcullis/db/client");
  const prisma = createPrismaClient(process.env.DATABASE_URL!);
  try {
    const hops = await prisma.connectionSshHop.findMany({ where: { teamId, connection: { name: "behind the bastion" } } });
    expect(hops).toHaveLength(1);
    expect(hops[0]).toMatchObject({ host: sshd.host, port: sshd.port, username: sshd.username, hostKeySha256: sshd.hostKeyFingerprint });
    expect(hops[0]!.privateKeyCiphertext).not.toContain("PRIVATE KEY");
  } finally {
    await prisma.$disconnect();
  }

  // The edit page says a key is stored and never shows it.
  await page.getByRole("link", { name: "behind the bastion" }).click();
  await expect(page.getByTestId("ssh-key-stored-0")).toBeVisible();
  expect(await page.content()).not.toContain("PRIVATE KEY-----\n");
  await expect(page.locator("#ssh-key-0")).toHaveValue("");
});
