import { expect, test } from "@playwright/test";
import pg from "pg";
import { connectMcp } from "./support/mcp-client";
import { chinookUrl, screenshot, signUp, uniqueEmail, webUrl } from "./support/stack";

/**
 * Replay before save (issue 15 §7), as an admin uses it in real Chromium against the real stack: a
 * real MCP client makes a few dozen audited calls through the gateway (reads of artist and genre,
 * writes to playlist), the worker ingests them, then the scope editor hides artist and puts playlist
 * under approval, replays the week and shows what would change — undefined_table for the artist
 * reads, "none → writes" for the playlist writes — and the save button says "Save anyway".
 */
test.describe.configure({ mode: "serial" });

const ARTIST_READS = [1, 2, 3, 4].map((n) => `SELECT name FROM artist ORDER BY artist_id LIMIT ${n}`);
const ARTIST_CALLS_EACH = 3;
const WRITE = "UPDATE playlist SET name = name WHERE playlist_id = 1";
const WRITE_CALLS = 5;
const GENRE = "SELECT count(*) FROM genre";
const GENRE_CALLS = 4;

async function auditedCalls(linkId: string): Promise<number> {
  const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number }>("SELECT count(*)::int AS n FROM audit_events WHERE link_id = $1::uuid AND tool = 'execute_sql' AND sql IS NOT NULL", [linkId]);
    return rows[0]!.n;
  } finally {
    await client.end();
  }
}

test("replay a draft against a link's audited calls: would become blocked, approval changes, Save anyway", async ({ page }) => {
  // ── A team, a connection and a link that reads everything and writes playlist ──────────────────
  await signUp(page, "Grace Hopper", uniqueEmail("replayer"));
  await page.waitForURL(/\/onboarding$/);
  await page.getByLabel("Team name").fill("Replay Records");
  await page.getByRole("button", { name: "Create team" }).click();
  await page.waitForURL(/\/t\/[^/]+$/);
  const slug = new URL(page.url()).pathname.split("/")[2]!;
  await page.goto(webUrl(`/t/${slug}/connections/new`));
  await page.getByLabel("Name").fill("Chinook");
  await page.getByLabel("Connection URL").fill(`${chinookUrl()}?sslmode=disable`);
  await page.getByRole("button", { name: "Test and add connection" }).click();
  await page.waitForURL(/\/connections$/);
  await page.goto(webUrl(`/t/${slug}/links/new`));
  await page.getByLabel("Link name").fill("replay-desk");
  await page.getByLabel("Access to public.playlist", { exact: true }).selectOption("write");
  await page.getByRole("button", { name: "Create link" }).click();
  await page.waitForURL(/\/links\/[0-9a-f-]{36}$/);
  const linkPath = new URL(page.url()).pathname;
  const linkId = linkPath.split("/").pop()!;
  const linkUrl = (await page.getByTestId("link-url").textContent())!.trim();

  // ── A real MCP client makes the calls the replay will read ─────────────────────────────────────
  await page.getByLabel("Key name").fill("replay-laptop");
  await page.getByRole("button", { name: "Create key" }).click();
  const key = (await page.getByTestId("new-api-key").textContent())!.trim();
  const client = await connectMcp(linkUrl, key, "e2e-replay");
  const run = async (sql: string, times: number) => {
    for (let i = 0; i < times; i++) {
      const result = await client.callTool({ name: "execute_sql", arguments: { sql } });
      expect(result.isError, `${sql}: ${JSON.stringify(result.content).slice(0, 200)}`).toBeFalsy();
    }
  };
  for (const sql of ARTIST_READS) await run(sql, ARTIST_CALLS_EACH);
  await run(WRITE, WRITE_CALLS);
  await run(GENRE, GENRE_CALLS);
  await client.close();
  const total = ARTIST_READS.length * ARTIST_CALLS_EACH + WRITE_CALLS + GENRE_CALLS;
  // The gateway's events reach audit_events through the worker.
  await expect.poll(() => auditedCalls(linkId), { timeout: 60_000 }).toBe(total);

  // ── The draft: artist hidden; replay the week ──────────────────────────────────────────────────
  await page.goto(webUrl(`${linkPath}?tab=scope`));
  await page.getByLabel("Access to public.artist", { exact: true }).selectOption("none");
  await expect(page.getByRole("button", { name: "Save scope" })).toBeVisible();
  await page.getByRole("button", { name: "Replay last 7 days" }).click();
  const result = page.getByTestId("replay-result");
  await expect(page.getByTestId("replay-summary")).toContainText(`Replayed ${total} calls (${ARTIST_READS.length + 2} distinct statements) of the last 7 days in`);
  const blocked = page.getByTestId("replay-becameBlocked");
  await expect(blocked).toContainText(`Would become blocked: ${ARTIST_READS.length * ARTIST_CALLS_EACH} calls`);
  const undefinedTable = page.getByTestId("replay-group-undefined_table");
  await expect(undefinedTable).toContainText(`undefined_table${ARTIST_READS.length * ARTIST_CALLS_EACH} calls · ${ARTIST_READS.length} statements`);
  for (const sql of ARTIST_READS) await expect(undefinedTable).toContainText(sql);
  await expect(page.getByTestId("save-warning")).toContainText(`This draft blocks ${ARTIST_READS.length * ARTIST_CALLS_EACH} calls of the replay that pass today.`);
  await expect(page.getByRole("button", { name: "Save anyway" })).toBeVisible();

  // ── Every write to playlist waits for a lead; the replay shows the approval change ─────────────
  await page.locator('button[aria-controls="cols-public.playlist"]').click();
  await page.getByLabel("Approval for writes to playlist").selectOption("writes");
  // An edit since the replay: the result is marked stale and the save button no longer speaks for it.
  await expect(result.getByText("The draft changed since this replay")).toBeVisible();
  await expect(page.getByRole("button", { name: "Save scope" })).toBeVisible();
  await page.getByRole("button", { name: "Replay last 7 days" }).click();
  await expect(result.getByText("The draft changed since this replay")).toHaveCount(0);
  const approvals = page.getByTestId("replay-approvalChanged");
  await expect(approvals).toContainText(`Approval changes: ${WRITE_CALLS} calls`);
  await expect(approvals).toContainText("none → writes");
  await expect(approvals).toContainText(WRITE);
  await expect(page.getByTestId("replay-group-undefined_table")).toContainText(`${ARTIST_READS.length * ARTIST_CALLS_EACH} calls`);
  await expect(page.getByTestId("replay-becameAllowed")).toHaveCount(0);
  await page.getByTestId("replay-result").scrollIntoViewIfNeeded();
  await screenshot(page, "replay");

  // ── The server's scope errors land next to their fields (then the values are put right) ────────
  await page.getByLabel("Requests expire after (minutes)").fill("0");
  await page.getByLabel("Maximum estimated cost").fill("-5");
  await page.getByRole("button", { name: /^Save/ }).click();
  await expect(page.locator("#approval-expiry ~ p[role=alert]")).toContainText(/1/);
  await expect(page.locator("#max-estimated-cost ~ p[role=alert]")).toBeVisible();
  await page.getByLabel("Requests expire after (minutes)").fill("60");
  await page.getByLabel("Maximum estimated cost").fill("");
  await page.getByRole("button", { name: "Replay last 7 days" }).click();
  await expect(result.getByText("The draft changed since this replay")).toHaveCount(0);

  // ── Save anyway: the link's scope now hides artist and puts playlist under approval ────────────
  await page.getByRole("button", { name: "Save anyway" }).click();
  await expect(page.getByText("Saved. Gateways apply the new scope to the next call.")).toBeVisible();
  // The saved draft is the new baseline: the old comparison is gone, and so is "Save anyway".
  await expect(page.getByTestId("replay-result")).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Save scope" })).toBeVisible();
  const meta = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await meta.connect();
  try {
    const { rows } = await meta.query<{ scope: { tables: Record<string, { access?: string; approval?: string }> } }>("SELECT scope FROM links WHERE id = $1::uuid", [linkId]);
    expect(rows[0]!.scope.tables.artist).toEqual({ access: "none" });
    expect(rows[0]!.scope.tables.playlist).toEqual({ access: "write", approval: "writes" });
  } finally {
    await meta.end();
  }

  // ── Approvals tab: the owner approves always; an access request from the client is decided ──────
  const asking = await connectMcp(linkUrl, key, "e2e-replay-access");
  const asked = await asking.callTool({ name: "request_access", arguments: { table: "playlist_track", access: "write", minutes: 30, reason: "dedupe the playlists" } });
  await asking.close();
  expect(asked.isError, JSON.stringify(asked.content).slice(0, 300)).toBeFalsy();
  expect(asked.structuredContent).toMatchObject({ status: "pending", table: "public.playlist_track", access: "write", minutes: 30 });
  await page.goto(webUrl(`${linkPath}?tab=approvals`));
  await expect(page.getByText("Always approve")).toBeVisible();
  const pendingRequest = page.locator('[data-testid^="grant-request-"]');
  await expect(pendingRequest).toContainText("asks for write on public.playlist_track for 30 min");
  await expect(pendingRequest).toContainText("dedupe the playlists");
  // The request is the owner's own (their key asked): granting it needs another approver (no self-approval).
  await pendingRequest.getByRole("button", { name: "Grant" }).click();
  await expect(page.getByRole("alert").filter({ hasText: /own request/ })).toBeVisible();
  await pendingRequest.getByLabel(/^Comment on the request of/).fill("use a migration instead");
  await pendingRequest.getByRole("button", { name: "Refuse" }).click();
  await expect(page.getByTestId("grant-history")).toContainText("refused");
  await expect(page.getByTestId("grant-history")).toContainText("use a migration instead");
  await expect(page.locator('[data-testid^="grant-request-"]')).toHaveCount(0);
  await expect(page.getByRole("alert").filter({ hasText: /own request/ })).toHaveCount(0);
  await screenshot(page, "link-approvals");
});
