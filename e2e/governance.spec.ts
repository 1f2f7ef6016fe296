import { expect, test } from "@playwright/test";
import pg from "pg";
import { connectMcp, resultText } from "./support/mcp-client";
import { chinookUrl, screenshot, signUp, uniqueEmail, webUrl } from "./support/stack";

/**
 * Issue 14 as an admin uses it, in real Chromium against the real stack: a member attribute on the
 * Members tab → a row filter and a mask in the scope editor, with the preview's numbers and a masked
 * sample → the Playground returns only the filtered rows, masked, next to the rewritten SQL → an MCP
 * client sees the same rows and hears the rule from get_permissions → Activity shows the call with
 * the statement that ran. Expected numbers come from the target database itself, not from this file.
 */
test.describe.configure({ mode: "serial" });

const REP = 3;

async function onTarget<T extends pg.QueryResultRow>(sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: chinookUrl() });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

test("row filter, mask, member attribute: preview, Playground, MCP and Activity agree", async ({ page }) => {
  const total = (await onTarget<{ total: number }>("SELECT count(*)::int AS total FROM customer"))[0]!.total;
  const mine = await onTarget<{ customer_id: number; email: string }>("SELECT customer_id, email FROM customer WHERE support_rep_id = $1 ORDER BY customer_id", [REP]);
  expect(mine.length).toBeGreaterThan(0);
  expect(mine.length).toBeLessThan(total);

  // ── A team, a connection and a plain read link ─────────────────────────────────────────────────
  const email = uniqueEmail("governor");
  await signUp(page, "Ada Lovelace", email);
  await page.waitForURL(/\/onboarding$/);
  await page.getByLabel("Team name").fill("Governed Records");
  await page.getByRole("button", { name: "Create team" }).click();
  await page.waitForURL(/\/t\/[^/]+$/);
  const slug = new URL(page.url()).pathname.split("/")[2]!;
  await page.goto(webUrl(`/t/${slug}/connections/new`));
  await page.getByLabel("Name").fill("Chinook");
  await page.getByLabel("Connection URL").fill(`${chinookUrl()}?sslmode=disable`);
  await page.getByRole("button", { name: "Test and add connection" }).click();
  await page.waitForURL(/\/connections$/);
  await page.goto(webUrl(`/t/${slug}/links/new`));
  await page.getByLabel("Link name").fill("support-desk");
  await expect(page.getByLabel("Access to public.customer")).toBeVisible();
  await page.getByRole("button", { name: "Create link" }).click();
  await page.waitForURL(/\/links\/[0-9a-f-]{36}$/);
  const linkPath = new URL(page.url()).pathname;
  const linkUrl = (await page.getByTestId("link-url").textContent())!.trim();

  // ── Members tab: the admin's own rep_id (owners use every link, so they have attributes too) ───
  await page.goto(webUrl(`${linkPath}?tab=access`));
  await page.getByLabel(/^New attribute name for/).fill("rep_id");
  await page.getByLabel(/^New attribute value for/).fill(String(REP));
  await page.getByRole("button", { name: "Add attribute" }).click();
  await expect(page.getByTestId("attr-rep_id")).toHaveText(String(REP));
  // A name a filter could not bind is refused at the field.
  await page.getByLabel(/^New attribute name for/).fill("Rep-Id");
  await page.getByLabel(/^New attribute value for/).fill("1");
  await page.getByRole("button", { name: "Add attribute" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /lower-case letters/ })).toBeVisible();
  await screenshot(page, "member-attributes");

  // ── Scope tab: a row filter and a mask on customer, checked, previewed and sampled ──────────────
  await page.goto(webUrl(`${linkPath}?tab=scope`));
  await page.locator('button[aria-controls="cols-public.customer"]').click();
  const filter = page.getByLabel("Row filter for customer");
  await filter.fill("no_such_column = {{member.attr.rep_id}}");
  await filter.blur();
  await expect(page.getByRole("alert").filter({ hasText: /no_such_column/ }).first()).toBeVisible();
  await filter.fill("support_rep_id = {{member.attr.rep_id}}");
  await filter.blur();
  await expect(page.getByRole("alert").filter({ hasText: /no_such_column/ })).toHaveCount(0);
  await page.getByLabel("Mask for email").selectOption("email");
  await page.getByRole("button", { name: "Preview rows" }).click();
  await expect(page.getByTestId("row-preview")).toHaveText(`${email} would see ${mine.length} of ${total} rows`);
  await page.getByRole("button", { name: "Sample masked values of email" }).click();
  await expect(page.getByTestId("sample-email")).toHaveText(/^\*\*\*@/);
  const sample = (await page.getByTestId("sample-email").textContent())!;
  const domains = new Set(mine.map((r) => r.email.split("@")[1]));
  for (const value of sample.split(" · ")) {
    expect(value.startsWith("***@")).toBe(true);
    expect(domains.has(value.slice(4))).toBe(true);
  }
  await screenshot(page, "scope-row-filter", true);
  await page.getByRole("button", { name: "Save scope" }).click();
  await expect(page.getByText("Saved. Gateways apply the new scope to the next call.")).toBeVisible();

  // ── Playground: only rep 3's customers, emails masked, the rewritten statement beside ours ──────
  const sql = "SELECT customer_id, email FROM customer ORDER BY customer_id";
  await page.goto(webUrl(`${linkPath}?tab=playground`));
  await page.getByLabel("SQL").fill(sql);
  await page.getByRole("button", { name: /^Run/ }).click();
  const result = page.getByTestId("playground-result");
  await expect(result.getByText("Allowed")).toBeVisible();
  await expect(result.getByText(`${mine.length} rows`)).toBeVisible();
  const cells = await result.locator("tbody tr").evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll("td")).map((td) => td.textContent ?? "")));
  expect(cells.map((c) => Number(c[0]))).toEqual(mine.map((r) => r.customer_id));
  for (const [i, row] of cells.entries()) expect(row[1]).toBe(`***@${mine[i]!.email.split("@")[1]}`);
  for (const { email: clear } of mine) await expect(result.getByText(clear, { exact: true })).toHaveCount(0);
  await expect(page.getByTestId("playground-original-sql")).toContainText("FROM customer");
  await expect(page.getByTestId("playground-rewritten-sql")).toContainText("OFFSET 0");
  await expect(page.getByTestId("playground-rewrite")).toContainText("rep_id");
  await screenshot(page, "playground-rewrite", true);

  // ── An MCP client with the admin's key: the same rows, and get_permissions says why ─────────────
  await page.goto(webUrl(linkPath));
  await page.getByLabel("Key name").fill("desk-laptop");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-api-key").textContent())!.trim();
  const client = await connectMcp(linkUrl, key, "e2e-governance");
  const permissionsResult = await client.callTool({ name: "get_permissions", arguments: {} });
  const permissions = resultText(permissionsResult);
  expect(permissionsResult.structuredContent).toMatchObject({
    rowFilters: [{ table: "public.customer", attributes: ["rep_id"], shown: true }],
    maskedColumns: [{ table: "public.customer", column: "email", mask: "email" }],
  });
  // Words, never the member's value.
  expect(JSON.stringify(permissionsResult.structuredContent)).not.toMatch(new RegExp(`rep_id\\D{0,12}${REP}\\b`));
  expect(permissions).toContain("public.customer: you see only rows where support_rep_id equals your rep_id attribute");
  expect(permissions).toContain("email is masked (only the domain is shown)");
  const count = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT count(*)::int AS n FROM customer" } });
  expect(count.isError).toBeFalsy();
  expect(JSON.stringify(count.structuredContent)).toContain(`"rows":[[${mine.length}]]`);
  await client.close();

  // ── Activity: the Playground call, with the statement that ran and the attribute it bound ───────
  await page.goto(webUrl(`/t/${slug}/activity`));
  const row = page.getByTestId("activity-table").locator("tr", { hasText: sql });
  await expect(async () => {
    await page.reload();
    await expect(row.first()).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  await row.first().getByRole("link").click();
  await expect(page.getByTestId("event-sql")).toContainText("FROM customer");
  await expect(page.getByTestId("event-rewritten-sql")).toContainText("OFFSET 0");
  await expect(page.getByTestId("event-attribute-names")).toContainText("rep_id");
  await expect(page.getByTestId("event-detail")).not.toContainText(String(mine[0]!.email));
  await screenshot(page, "activity-rewritten");
});
