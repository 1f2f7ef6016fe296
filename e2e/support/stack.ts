import { mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "@playwright/test";

/** URLs of the stack global setup started (handed over through the environment). */
export function webUrl(p = ""): string {
  const base = process.env.E2E_WEB_URL;
  if (!base) throw new Error("E2E_WEB_URL is not set: run through `pnpm test:e2e` (global setup starts the stack)");
  return base + p;
}

export function chinookUrl(): string {
  const url = process.env.E2E_CHINOOK_URL;
  if (!url) throw new Error("E2E_CHINOOK_URL is not set: run through `pnpm test:e2e`");
  return url;
}

// The README's pictures are refreshed only when asked (UPDATE_SCREENSHOTS=1), so an ordinary test
// run leaves the working tree clean; otherwise they go with the run's other artefacts.
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS
  ? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../docs/screenshots")
  : path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../test-results/screenshots");

/** Screenshots of the real run: every run takes them; UPDATE_SCREENSHOTS=1 puts them in the README. */
export async function screenshot(page: Page, name: string, fullPage = false): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage });
}

export const PASSWORD = "correct horse battery staple";

export function uniqueEmail(label: string): string {
  return `${label}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}@example.com`;
}

export async function signUp(page: Page, name: string, email: string): Promise<void> {
  await page.goto(webUrl("/sign-up"));
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Work email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
}

export async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
  await page.goto(webUrl("/sign-in"));
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
}
