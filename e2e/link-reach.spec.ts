import { expect, test } from "@playwright/test";
import pg from "pg";
import { createEmptyDatabase, withClient, type TestDatabase } from "@portcullis/db/testing";
import { connectV2 } from "./support/clients/sdk-clients";
import { chinookUrl, screenshot, signUp, uniqueEmail, webUrl } from "./support/stack";

/**
 * Issue 17, points 4–6 in the dashboard (real Chromium, the production build) and through a real MCP
 * client: an admin adds a second database to a link (its own connection and scope, a hidden table) and a
 * saved tool with a typed parameter; the save-time check refuses a write in the policy's words; Try it
 * runs the tool through the gateway's Playground path and shows rows. Then the v2 client (2026-07-28)
 * lists the saved tool, calls it with a parameter and gets rows, queries the second database with
 * `database`, finds its hidden table absent, and loses execute_sql when the switch is turned off.
 */
test.describe.configure({ mode: "serial" });

let ledger: TestDatabase;

test.beforeAll(async () => {
  // A second, small database on the test cluster, readable by the stack's ordinary target role.
  ledger = await createEmptyDatabase("e2e_ledger");
  await withClient(ledger.url, async (c) => {
    await c.query(`CREATE TABLE entry (id int PRIMARY KEY, account text NOT NULL, amount numeric(10,2) NOT NULL)`);
    await c.query(`INSERT INTO entry VALUES (1, 'rent', -1200.00), (2, 'sales', 5400.50), (3, 'payroll', -3100.00)`);
    await c.query(`CREATE TABLE salary (id int PRIMARY KEY, person text, amount numeric)`);
    await c.query(`INSERT INTO salary VALUES (1, 'Ada', 9999)`);
    await c.query(`GRANT USAGE ON SCHEMA public TO e2e_chinook; GRANT SELECT ON ALL TABLES IN SCHEMA public TO e2e_chinook`);
  });
});

test.afterAll(async () => {
  await ledger?.drop().catch(() => {});
});

function ledgerUrl(): string {
  // The stack's Chinook URL (ordinary role, loopback cluster the target policy allows), another database.
  const url = new URL(chinookUrl());
  url.pathname = `/${ledger.name}`;
  return url.toString();
}

test("a second database and a saved tool in the dashboard, then a real MCP client uses both", async ({ page }) => {
  // ── A team with two connections and a link over the first ───────────────────────────────────────
  await signUp(page, "Katherine Johnson", uniqueEmail("reach"));
  await page.waitForURL(/\/onboarding$/);
  await page.getByLabel("Team name").fill("Reach Records");
  await page.getByRole("button", { name: "Create team" }).click();
  await page.waitForURL(/\/t\/[^/]+$/);
  const slug = new URL(page.url()).pathname.split("/")[2]!;
  for (const [name, url] of [["Chinook", `${chinookUrl()}?sslmode=disable`], ["Ledger", `${ledgerUrl()}?sslmode=disable`]] as const) {
    await page.goto(webUrl(`/t/${slug}/connections/new`));
    await page.locator("#name").fill(name);
    await page.getByLabel("Connection URL").fill(url);
    await page.getByRole("button", { name: "Test and add connection" }).click();
    await page.waitForURL(/\/connections$/);
  }
  await page.goto(webUrl(`/t/${slug}/links/new`));
  await page.getByLabel("Link name").fill("reach-desk");
  await page.getByLabel("Connection").selectOption({ label: `Chinook (${new URL(chinookUrl()).pathname.slice(1)})` });
  await page.getByRole("button", { name: "Create link" }).click();
  await page.waitForURL(/\/links\/[0-9a-f-]{36}$/);
  const linkPath = new URL(page.url()).pathname;
  const linkUrl = (await page.getByTestId("link-url").textContent())!.trim();

  // ── Databases: rename the first, add the ledger with salary hidden ─────────────────────────────
  await page.goto(webUrl(`${linkPath}?tab=databases`));
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByLabel("Name of the first database").fill("music");
  await page.getByRole("button", { name: "Save name" }).click();
  await expect(page.getByTestId("link-database-music")).toBeVisible();
  await page.getByRole("button", { name: "Add a database" }).click();
  await page.getByLabel("Database name").fill("ledger");
  await page.getByLabel("Connection of this database").selectOption({ label: `Ledger (${ledger.name})` });
  await page.getByLabel("Access to public.salary", { exact: true }).selectOption("none");
  await page.getByRole("button", { name: "Add database" }).click();
  const ledgerRow = page.getByTestId("link-database-ledger");
  await expect(ledgerRow).toContainText("Ledger");
  await expect(ledgerRow).toContainText("1 hidden table");
  await expect(page.getByTestId("link-summary")).toContainText("ledger (Ledger)");

  // ── Tools: a write is refused at save in the policy's words; a read with a parameter is saved ──
  await page.goto(webUrl(`${linkPath}?tab=tools`));
  await page.getByRole("button", { name: "New tool" }).click();
  const form = page.getByTestId("saved-tool-form");
  await form.getByLabel("Tool name").fill("artists_upto");
  await form.getByLabel("Title").fill("Artists up to an id");
  await form.getByLabel("Description").fill("Artist names whose id is at most max_id, in id order.");
  await form.getByLabel("SQL", { exact: true }).fill("DELETE FROM artist WHERE artist_id <= $1");
  await form.getByRole("button", { name: "Add a parameter" }).click();
  await form.getByLabel("Parameter 1 name").fill("max_id");
  await form.getByLabel("Parameter 1 type").selectOption("integer");
  await form.getByLabel("Parameter 1 description").fill("the highest artist id to include");
  await form.getByRole("button", { name: "Save tool" }).click();
  await expect(page.getByTestId("saved-tool-error")).toContainText(/not saved/i);
  await expect(page.getByTestId("saved-tool-error")).toContainText(/artist/);
  await form.getByLabel("SQL", { exact: true }).fill("SELECT artist_id, name FROM artist WHERE artist_id <= $1 ORDER BY artist_id");
  await form.getByRole("button", { name: "Save tool" }).click();
  const saved = page.getByTestId("saved-tool-artists_upto");
  await expect(saved).toContainText("$1 max_id: integer");

  // ── Try it: through the gateway's Playground path, rows on the page ────────────────────────────
  await saved.getByRole("button", { name: "Try it" }).click();
  const tryForm = page.getByTestId("try-artists_upto");
  await tryForm.getByLabel(/^max_id/).fill("3");
  await tryForm.getByRole("button", { name: "Run tool" }).click();
  const answer = tryForm.getByTestId("playground-result");
  await expect(answer.getByText("Allowed")).toBeVisible();
  const cells = await answer.locator("tbody tr").evaluateAll((rows) => rows.map((r) => Array.from(r.querySelectorAll("td")).map((td) => td.textContent ?? "")));
  expect(cells).toEqual([["1", "AC/DC"], ["2", "Accept"], ["3", "Aerosmith"]]);
  await screenshot(page, "link-tools", true);

  // ── A tool on the second database: Try it runs it there (the music database has no entry table) ──
  await page.getByRole("button", { name: "New tool" }).click();
  const ledgerForm = page.getByTestId("saved-tool-form");
  await ledgerForm.getByLabel("Tool name").fill("entries_of");
  await ledgerForm.getByLabel("Description").fill("Ledger entries of one account.");
  await ledgerForm.getByLabel("SQL", { exact: true }).fill("SELECT id, amount FROM entry WHERE account = $1 ORDER BY id");
  await ledgerForm.getByRole("button", { name: "Add a parameter" }).click();
  await ledgerForm.getByLabel("Parameter 1 name").fill("account");
  await ledgerForm.getByLabel("Runs on database").selectOption("ledger");
  await ledgerForm.getByRole("button", { name: "Save tool" }).click();
  const ledgerTool = page.getByTestId("saved-tool-entries_of");
  await expect(ledgerTool).toContainText("ledger");
  await ledgerTool.getByRole("button", { name: "Try it" }).click();
  const ledgerTry = page.getByTestId("try-entries_of");
  // Bound as a value: this text matches no account and runs nothing else.
  await ledgerTry.getByLabel(/^account/).fill("sales' OR '1'='1");
  await ledgerTry.getByRole("button", { name: "Run tool" }).click();
  await expect(ledgerTry.getByTestId("playground-result").getByText("0 rows")).toBeVisible();
  await ledgerTry.getByLabel(/^account/).fill("sales");
  await ledgerTry.getByRole("button", { name: "Run tool" }).click();
  await expect(ledgerTry.getByTestId("playground-result").locator("tbody tr")).toHaveCount(1);
  await expect(ledgerTry.getByTestId("playground-result").locator("tbody tr td").nth(1)).toHaveText("5400.50");

  // ── A key, then the v2 client (2026-07-28) ──────────────────────────────────────────────────────
  await page.goto(webUrl(linkPath));
  await expect(page.getByTestId("connect-databases")).toContainText("ledger");
  await page.getByLabel("Key name").fill("reach-laptop");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-api-key").textContent())!.trim();
  const client = await connectV2(linkUrl, key, "pinned");
  try {
    const names = await client.listTools();
    expect(names).toContain("artists_upto");
    expect(names).toContain("entries_of");
    expect(names).toContain("execute_sql");
    const tool = await client.callTool("artists_upto", { max_id: 2 });
    expect(tool.isError, tool.text).toBe(false);
    expect(JSON.stringify(tool.structuredContent)).toContain('"rows":[[1,"AC/DC"],[2,"Accept"]]');
    // A parameter is a value, never SQL: a string where an integer goes is refused before anything runs.
    const wrong = await client.callTool("artists_upto", { max_id: "1 OR 1=1" });
    expect(wrong.isError).toBe(true);

    const second = await client.callTool("execute_sql", { database: "ledger", sql: "SELECT account, amount FROM entry ORDER BY id" });
    expect(second.isError, second.text).toBe(false);
    expect(JSON.stringify(second.structuredContent)).toContain("payroll");
    // The ledger's hidden table does not exist for this link; the music database has no entry table.
    const hidden = await client.callTool("execute_sql", { database: "ledger", sql: "SELECT * FROM salary" });
    expect(hidden.isError).toBe(true);
    expect(hidden.text).not.toContain("Ada");
    const first = await client.callTool("execute_sql", { sql: "SELECT count(*)::int AS n FROM entry" });
    expect(first.isError).toBe(true);
    const unknown = await client.callTool("execute_sql", { database: "payments", sql: "SELECT 1" });
    expect(unknown.isError).toBe(true);
    expect(unknown.text).toContain("music");
  } finally {
    await client.close();
  }

  // ── execute_sql off: a link that offers only its curated tools ──────────────────────────────────
  await page.goto(webUrl(`${linkPath}?tab=tools`));
  await page.getByRole("switch", { name: "Offer execute_sql" }).uncheck();
  await expect(page.getByText("execute_sql is no longer offered to AI clients.")).toBeVisible();
  // A fresh client per look: the v2 client keeps a tools/list answer for its cache hint, so a look taken
  // before the gateway heard of the switch would be kept.
  const offered = async () => {
    const fresh = await connectV2(linkUrl, key, "pinned");
    try {
      return await fresh.listTools();
    } finally {
      await fresh.close();
    }
  };
  await expect.poll(async () => (await offered()).includes("execute_sql"), { timeout: 10_000 }).toBe(false);
  const curated = await connectV2(linkUrl, key, "pinned");
  try {
    expect(await curated.listTools()).toContain("artists_upto");
    // A tool the link does not offer is an unknown tool (a protocol error, as MCP has it), not a refusal.
    await expect(curated.callTool("execute_sql", { sql: "SELECT 1" })).rejects.toThrow(/Unknown tool: execute_sql/);
    const stillThere = await curated.callTool("artists_upto", { max_id: 1 });
    expect(stillThere.isError, stillThere.text).toBe(false);
  } finally {
    await curated.close();
  }
  // The database's own rows were untouched by the refused DELETE tool.
  const count = await withClient(chinookUrl(), async (c: pg.Client) => (await c.query<{ n: number }>("SELECT count(*)::int AS n FROM artist WHERE artist_id <= 3")).rows[0]!.n);
  expect(count).toBe(3);
});
