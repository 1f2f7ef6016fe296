import { expect, test } from "@playwright/test";
import pg from "pg";
import { signUp, uniqueEmail, webUrl } from "./support/stack";

/**
 * The Audit export page as an admin uses it in real Chromium against the real stack: a webhook sink
 * is added and its signing secret shown once (gone after a reload), a file sink is added, paused
 * (the row in PostgreSQL says so) and resumed, a test goes through the real worker and comes back with
 * its outcome (this stack sets no AUDIT_EXPORT_DIR, so the worker's answer is that it is missing), and
 * the sink is deleted.
 */
async function sinkRow(name: string): Promise<{ status: string } | undefined> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    return (await client.query<{ status: string }>("SELECT status FROM audit_sinks WHERE name = $1", [name])).rows[0];
  } finally {
    await client.end();
  }
}

test("an admin adds, pauses, resumes, tests and deletes audit sinks", async ({ page }) => {
  await signUp(page, "Ada Lovelace", uniqueEmail("sinks"));
  await page.waitForURL(/\/onboarding$/);
  await page.getByLabel("Team name").fill("Export Co");
  await page.getByRole("button", { name: "Create team" }).click();
  await page.waitForURL(/\/t\/[^/]+$/);
  const slug = new URL(page.url()).pathname.split("/")[2]!;
  await page.goto(webUrl(`/t/${slug}/activity/sinks`));
  await expect(page.getByRole("heading", { name: "Audit export" })).toBeVisible();

  const name = `siem-${Date.now().toString(36)}`;
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Webhook URL").fill("https://siem.example.com/portcullis?token=hidden");
  await page.getByRole("button", { name: "Add sink" }).click();
  const secret = (await page.getByTestId("sink-secret").textContent())!.trim();
  expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
  await expect(page.getByTestId(`sink-${name}`)).toContainText("https://siem.example.com/portcullis?…");
  await page.reload();
  await expect(page.getByTestId(`sink-${name}`)).toBeVisible();
  expect(await page.content()).not.toContain(secret);
  expect(await page.content()).not.toContain("token=hidden");

  const files = `${name}-files`;
  await page.getByLabel("Kind").selectOption("file");
  await page.getByLabel("Name").fill(files);
  await page.getByRole("button", { name: "Add sink" }).click();
  const row = page.getByTestId(`sink-${files}`);
  await expect(row).toBeVisible();

  await row.getByRole("button", { name: "Pause" }).click();
  await expect(row.getByRole("button", { name: "Resume" })).toBeVisible();
  await expect(row.getByTestId("sink-paused-reason")).toContainText("paused by an admin");
  expect(await sinkRow(files)).toEqual({ status: "paused" });
  await row.getByRole("button", { name: "Resume" }).click();
  await expect(row.getByRole("button", { name: "Pause" })).toBeVisible();
  expect(await sinkRow(files)).toEqual({ status: "active" });

  await row.getByRole("button", { name: "Send test" }).click();
  await expect(row.getByText(/Test failed: AUDIT_EXPORT_DIR is not set/)).toBeVisible({ timeout: 20_000 });

  page.once("dialog", (dialog) => void dialog.accept());
  await row.getByRole("button", { name: "Delete" }).click();
  await expect(page.getByTestId(`sink-${files}`)).toHaveCount(0);
  expect(await sinkRow(files)).toBeUndefined();
});
