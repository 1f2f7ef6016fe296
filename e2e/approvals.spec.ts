import { expect, test, type Browser, type Page } from "@playwright/test";
import { mcpClient, onDb, seedApprovalWorld, type ApprovalWorld } from "./support/approvals";
import { screenshot, signIn, webUrl } from "./support/stack";

/**
 * Issue 15 as a lead lives it, in real Chromium against the real stack: a real MCP client (the v2
 * SDK, 2026-07-28) sends a DELETE on a table whose link asks a lead's approval → pending_approval
 * with a preview; an admin opens Approvals, reads the diff and approves with a comment; the client
 * runs the request and gets the result; the target changed once; get_write_request says executed.
 * Then the races: two approvers at once (one decision wins), an approval at expiry (nothing runs),
 * and self-approval (refused). Expected numbers come from the target database itself.
 */
test.describe.configure({ mode: "serial" });

let world: ApprovalWorld;
const gateway = () => process.env.E2E_GATEWAY_URL!;

test.beforeAll(async () => {
  world = await seedApprovalWorld();
});

async function lines(invoiceId: number) {
  return onDb<{ invoice_line_id: number; unit_price: string }>(world.targetUrl, "SELECT invoice_line_id, unit_price::text FROM invoice_line WHERE invoice_id = $1 ORDER BY invoice_line_id", [invoiceId]);
}
const totalLines = async () => (await onDb<{ n: number }>(world.targetUrl, "SELECT count(*)::int AS n FROM invoice_line"))[0]!.n;

async function signedIn(browser: Browser, email: string): Promise<Page> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signIn(page, email);
  await page.waitForURL(/\/t\/|\/onboarding/);
  return page;
}

/** The member's client asks for a DELETE; the gateway answers pending with a request id. */
async function askToDelete(invoiceId: number, key = world.member.key) {
  const client = await mcpClient(gateway(), world.linkId, key);
  try {
    const sql = `DELETE FROM invoice_line WHERE invoice_id = ${invoiceId}`;
    const answer = await client.call("execute_sql", { sql });
    expect(answer.isError, answer.text).toBe(false);
    expect(answer.structured).toMatchObject({ status: "pending_approval", kind: "approval" });
    return { sql, requestId: answer.structured!.requestId as string, preview: answer.structured!.preview as { affected: number } };
  } finally {
    await client.close();
  }
}

const card = (page: Page, requestId: string) => page.locator(`[data-testid="write-request"][data-request-id="${requestId}"]`);

test("a DELETE waits for a lead: the diff, the approval with a comment, one execution, the history", async ({ page }) => {
  const before = await lines(5);
  expect(before.length).toBeGreaterThan(1);
  const total = await totalLines();
  const { sql, requestId, preview } = await askToDelete(5);
  expect(preview.affected).toBe(before.length);
  // Nothing ran: the dry run was rolled back.
  expect(await totalLines()).toBe(total);

  await signIn(page, world.admins[0]!.email);
  await page.waitForURL(/\/t\//);
  await page.goto(webUrl(`/t/${world.slug}/approvals`));
  await expect(page.getByTestId("nav-count-approvals").first()).toHaveText(/^[1-9]\d*$/);
  const request = card(page, requestId);
  await expect(request.getByTestId("affected-words")).toHaveText(`This statement would delete ${before.length} rows from public.invoice_line.`);
  await expect(request.getByTestId("request-sql")).toContainText("DELETE");
  await expect(request.getByText(world.member.email)).toBeVisible();
  // The before rows, from the target itself: each shown row is a deleted row with its key and price.
  const rows = request.locator('[data-testid="preview-diff"] tbody tr');
  const shown = Math.min(5, before.length);
  await expect(rows).toHaveCount(shown);
  for (let i = 0; i < shown; i++) {
    await expect(rows.nth(i)).toHaveAttribute("data-row-kind", "deleted");
    await expect(rows.nth(i)).toContainText(String(before[i]!.invoice_line_id));
    await expect(rows.nth(i)).toContainText(before[i]!.unit_price);
  }
  await expect(request.getByTestId("time-left")).toHaveText(/min left/);

  // An UPDATE beside it: rows matched by key, each changed cell old (struck) and new.
  const priced = await lines(9);
  const raise = await mcpClient(gateway(), world.linkId, world.member.key);
  let updateId: string;
  try {
    const answer = await raise.call("execute_sql", { sql: "UPDATE invoice_line SET unit_price = unit_price + 1 WHERE invoice_id = 9" });
    expect(answer.structured).toMatchObject({ status: "pending_approval" });
    updateId = answer.structured!.requestId as string;
  } finally {
    await raise.close();
  }
  await page.reload();
  const update = card(page, updateId);
  await expect(update.getByTestId("affected-words")).toHaveText(`This statement would update ${priced.length} rows in public.invoice_line.`);
  const firstChanged = update.locator('[data-testid="preview-diff"] tbody tr').first().locator('[data-cell="changed"]');
  await expect(firstChanged).toHaveCount(1);
  await expect(firstChanged.locator("del")).toHaveText(priced[0]!.unit_price);
  await expect(firstChanged.locator("ins")).toHaveText((Number(priced[0]!.unit_price) + 1).toFixed(2));
  expect(await lines(9)).toEqual(priced);
  await screenshot(page, "approvals", true);

  // Rejecting needs words; approving with a comment goes through.
  await request.getByRole("button", { name: "Reject" }).click();
  await expect(request.getByRole("alert")).toContainText("Say why you reject it");
  await request.getByLabel(/^Comment/).fill("Invoice 5 was a test order; fine to remove");
  await request.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByTestId("decision-notices")).toContainText("Approved. The client may now run it once.");
  // The queue refreshed: the decided request left it.
  await expect(card(page, requestId)).toHaveCount(0);
  expect((await onDb<{ status: string; decision_comment: string }>(world.metaUrl, "SELECT status::text, decision_comment FROM write_requests WHERE id = $1", [requestId]))[0]).toEqual({
    status: "approved",
    decision_comment: "Invoice 5 was a test order; fine to remove",
  });

  const client = await mcpClient(gateway(), world.linkId, world.member.key);
  try {
    const ran = await client.call("execute_sql", { sql, requestId });
    expect(ran.isError, ran.text).toBe(false);
    expect(ran.structured).toMatchObject({ affected: before.length });
    expect(await lines(5)).toEqual([]);
    expect(await totalLines()).toBe(total - before.length);
    // At most once: the same request again runs nothing.
    const again = await client.call("execute_sql", { sql, requestId });
    expect(again.isError).toBe(true);
    expect(await totalLines()).toBe(total - before.length);
    const state = await client.call("get_write_request", { requestId });
    expect(state.structured).toMatchObject({ requestId, requestStatus: "executed" });
  } finally {
    await client.close();
  }

  // History: executed, the result in words, the audit chain request → decision → execution.
  await page.goto(webUrl(`/t/${world.slug}/approvals?tab=history&status=executed`));
  const done = card(page, requestId);
  await expect(done.getByTestId("result-words")).toHaveText(`${before.length} rows affected`);
  await expect(done.getByText("“Invoice 5 was a test order; fine to remove”")).toBeVisible();
  // The chain's events arrive through the audit pipeline (queue → worker, the decision through the
  // outbox): the page is read again until all of them are in.
  await expect(async () => {
    await page.reload();
    const chain = card(page, requestId).getByTestId("audit-chain");
    await expect(chain.getByRole("link", { name: "request", exact: true })).toBeVisible({ timeout: 1000 });
    await expect(chain.getByRole("link", { name: "decision", exact: true })).toBeVisible({ timeout: 1000 });
    await expect(chain.getByRole("link", { name: "execution", exact: true })).toBeVisible({ timeout: 1000 });
    // The second attempt is in the chain too, as what it was.
    await expect(chain.getByRole("link", { name: "refused run (write_request_used)" })).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 45_000 });
  // Each step opens its event in Activity.
  const decision = card(page, requestId).getByTestId("audit-chain").getByRole("link", { name: "decision", exact: true });
  await decision.click();
  await expect(page).toHaveURL(/\/activity\?event=[0-9a-f-]{36}$/);
  await expect(page.getByRole("complementary", { name: "Event detail" })).toContainText("write_request.approved · write_request");
});

test("two approvers at once: exactly one decision wins, the other reads 'already decided'", async ({ browser }) => {
  const total = await totalLines();
  const { requestId } = await askToDelete(6);
  const [a, b] = await Promise.all(world.admins.map((admin) => signedIn(browser, admin.email)));
  for (const page of [a!, b!]) await page.goto(webUrl(`/t/${world.slug}/approvals`));
  const cardA = card(a!, requestId);
  const cardB = card(b!, requestId);
  await cardA.getByLabel(/^Comment/).fill("approve");
  await cardB.getByLabel(/^Comment/).fill("reject: wrong invoice");
  await Promise.all([cardA.getByRole("button", { name: "Approve" }).click(), cardB.getByRole("button", { name: "Reject" }).click()]);
  const noticeA = a!.getByTestId("decision-notices");
  const noticeB = b!.getByTestId("decision-notices");
  await expect(noticeA).toContainText(/Approved\. The client may now run it once\.|Already decided/);
  await expect(noticeB).toContainText(/Rejected\. Nothing will run\.|Already decided/);
  const losers = (await noticeA.getByText(/Already decided/).count()) + (await noticeB.getByText(/Already decided/).count());
  expect(losers).toBe(1);
  // The loser hears who won.
  const loser = (await noticeA.getByText(/Already decided/).count()) ? noticeA : noticeB;
  await expect(loser).toContainText(/Already decided — this request was already (approved|rejected) by approver-[ab]-.+@example\.com/);
  const row = (await onDb<{ status: string }>(world.metaUrl, "SELECT status::text FROM write_requests WHERE id = $1", [requestId]))[0]!;
  expect(["approved", "rejected"]).toContain(row.status);
  // Exactly one decision in the audit trail for this request (the outbox, or already in the chain).
  const decisions = await onDb<{ n: number }>(
    world.metaUrl,
    `SELECT count(DISTINCT id)::int AS n FROM (
       SELECT id FROM audit_events WHERE write_request_id = $1::uuid AND kind = 'config_change'
       UNION SELECT id FROM audit_outbox WHERE event LIKE '%' || $1 || '%' AND event LIKE '%config_change%') x`,
    [requestId],
  );
  expect(decisions[0]!.n).toBe(1);
  expect(await totalLines()).toBe(total);
  await Promise.all([a!.context().close(), b!.context().close()]);
});

test("approval at expiry: the request lapses just before the click → 'expired', nothing runs", async ({ page }) => {
  const total = await totalLines();
  const { sql, requestId } = await askToDelete(7);
  await signIn(page, world.admins[1]!.email);
  await page.waitForURL(/\/t\//);
  await page.goto(webUrl(`/t/${world.slug}/approvals`));
  const request = card(page, requestId);
  await request.getByLabel(/^Comment/).fill("late");
  await onDb(world.metaUrl, "UPDATE write_requests SET expires_at = now() - interval '1 second' WHERE id = $1", [requestId]);
  await request.getByRole("button", { name: "Approve" }).click();
  await expect(page.getByTestId("decision-notices")).toContainText(/Expired: this request expired before the decision; nothing ran/);
  // The refreshed queue no longer lists it.
  await expect(card(page, requestId)).toHaveCount(0);
  const client = await mcpClient(gateway(), world.linkId, world.member.key);
  try {
    const ran = await client.call("execute_sql", { sql, requestId });
    expect(ran.isError).toBe(true);
  } finally {
    await client.close();
  }
  expect(await totalLines()).toBe(total);
  expect((await onDb<{ status: string }>(world.metaUrl, "SELECT status::text FROM write_requests WHERE id = $1", [requestId]))[0]!.status).not.toBe("approved");
});

test("self-approval is refused: the requester sees why, and has no Approve button", async ({ page }) => {
  const { requestId } = await askToDelete(8, world.adminKey);
  await signIn(page, world.admins[0]!.email);
  await page.waitForURL(/\/t\//);
  await page.goto(webUrl(`/t/${world.slug}/approvals`));
  const request = card(page, requestId);
  await expect(request.getByTestId("decision-why")).toHaveText("You cannot approve your own request.");
  await expect(request.getByRole("button", { name: "Approve" })).toHaveCount(0);
  expect((await onDb<{ status: string }>(world.metaUrl, "SELECT status::text FROM write_requests WHERE id = $1", [requestId]))[0]!.status).toBe("pending");
});

test("a notification's deep link opens the request highlighted; a narrowed scope withholds its preview rows; decided, it opens in History", async ({ page }) => {
  const before = await lines(10);
  const { requestId } = await askToDelete(10);
  await signIn(page, world.admins[1]!.email);
  await page.waitForURL(/\/t\//);
  await page.goto(webUrl(`/t/${world.slug}/approvals?request=${requestId}`));
  const request = card(page, requestId);
  await expect(request).toHaveAttribute("data-highlighted", "true");
  await expect(request).toBeInViewport();
  await expect(page.getByRole("link", { name: "Waiting", exact: true })).toHaveAttribute("aria-current", "page");
  await expect(request.locator('[data-testid="preview-diff"] tbody tr')).toHaveCount(Math.min(5, before.length));

  // The link hides unit_price after the dry run: the stored rows are withheld, the count stays.
  const scope = (await onDb<{ scope: unknown }>(world.metaUrl, "SELECT scope FROM links WHERE id = $1", [world.linkId]))[0]!.scope;
  await onDb(world.metaUrl, `UPDATE links SET scope = jsonb_set(scope, '{tables,invoice_line,hiddenColumns}', '["unit_price"]') WHERE id = $1`, [world.linkId]);
  try {
    await page.reload();
    await expect(request.getByTestId("preview-withheld")).toHaveText("The link's scope changed since this preview was taken; rows are withheld.");
    await expect(request.getByTestId("affected-words")).toHaveText(`This statement would delete ${before.length} rows from public.invoice_line.`);
    await expect(request.getByTestId("preview-diff")).toHaveCount(0);
    const html = await request.innerHTML();
    expect(html).not.toContain("unit_price");
    for (const line of before) expect(html).not.toContain(`>${line.unit_price}<`);
  } finally {
    await onDb(world.metaUrl, "UPDATE links SET scope = $2::jsonb WHERE id = $1", [world.linkId, JSON.stringify(scope)]);
  }

  await request.getByLabel(/^Comment/).fill("not this one");
  await request.getByRole("button", { name: "Reject" }).click();
  // Judged by effect: the refresh after the decision re-renders the deep-linked card as decided, and
  // can replace the page's notice before it is read (seen once in a fresh-clone run); the row says it.
  await expect
    .poll(async () => (await onDb<{ status: string }>(world.metaUrl, "SELECT status::text FROM write_requests WHERE id = $1", [requestId]))[0]!.status, { timeout: 15_000 })
    .toBe("rejected");
  await page.goto(webUrl(`/t/${world.slug}/approvals?request=${requestId}`));
  await expect(page.getByRole("link", { name: "History", exact: true })).toHaveAttribute("aria-current", "page");
  await expect(card(page, requestId)).toHaveAttribute("data-highlighted", "true");
  await expect(card(page, requestId)).toBeInViewport();
  expect(await lines(10)).toEqual(before);
});

test("the Playground: a write that needs a lead says 'Waiting for approval' with the count and links to the request", async ({ browser }) => {
  const before = await lines(11);
  const page = await signedIn(browser, world.member.email);
  await page.goto(webUrl(`/t/${world.slug}/links/${world.linkId}?tab=playground`));
  await page.getByLabel("SQL").fill("DELETE FROM invoice_line WHERE invoice_id = 11");
  await page.getByRole("button", { name: /^Run/ }).click();
  const waiting = page.getByTestId("playground-pending");
  await expect(waiting).toContainText("Waiting for approval");
  await expect(page.getByTestId("playground-pending-words")).toHaveText(`This statement would delete ${before.length} rows from public.invoice_line. Nothing was run.`);
  await expect(page.getByTestId("playground-pending-message")).toContainText("requires a lead's approval");
  await expect(page.getByTestId("playground-result").getByText("Blocked")).toHaveCount(0);
  const [row] = await onDb<{ id: string }>(world.metaUrl, "SELECT id::text FROM write_requests WHERE sql = $1 AND status = 'pending'", ["DELETE FROM invoice_line WHERE invoice_id = 11"]);
  await page.getByTestId("playground-pending-link").click();
  await expect(page).toHaveURL(new RegExp(`/approvals\\?request=${row!.id}$`));
  await expect(card(page, row!.id)).toHaveAttribute("data-highlighted", "true");
  // Their own request is not something waiting for them: no badge.
  await expect(page.getByTestId("nav-count-approvals")).toHaveCount(0);
  expect(await lines(11)).toEqual(before);
  await page.context().close();
});

test("notifications: the signing secret is shown once, never in the page or its RSC payload again; the delivery log lists what was sent", async ({ page }) => {
  await signIn(page, world.admins[0]!.email);
  await page.waitForURL(/\/t\//);
  const settings = webUrl(`/t/${world.slug}/settings`);
  await page.goto(settings);
  const section = page.getByTestId("notifications-section");
  await section.getByLabel("Webhook URL").fill("https://hooks.example.com/portcullis");
  await section.getByLabel("Format").selectOption("slack");
  await section.getByRole("button", { name: "Save" }).click();
  const secret = (await section.getByTestId("webhook-secret").textContent())!.trim();
  expect(secret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
  await expect(section.getByRole("button", { name: "Copy secret to clipboard" })).toBeVisible();
  const stored = (await onDb<{ webhook_secret_ciphertext: string; webhook_format: string }>(world.metaUrl, "SELECT webhook_secret_ciphertext, webhook_format FROM team_notification_settings WHERE team_id = $1", [world.teamId]))[0]!;
  expect(stored.webhook_format).toBe("slack");
  expect(stored.webhook_secret_ciphertext).not.toContain(secret);

  // Reloaded: the page, and the RSC payload a client navigation fetches, carry neither the secret nor its sealed form.
  await page.reload();
  await expect(section.getByLabel("Webhook URL")).toHaveValue("https://hooks.example.com/portcullis");
  await expect(section.getByText("A signing secret is set (shown only when made).")).toBeVisible();
  const html = await page.content();
  const rsc = await page.evaluate(async (url) => (await fetch(url, { headers: { RSC: "1" } })).text(), settings);
  expect(rsc).toContain("hooks.example.com");
  for (const body of [html, rsc]) {
    expect(body).not.toContain(secret);
    expect(body).not.toContain(stored.webhook_secret_ciphertext);
  }

  // E-mail to approvers is on by default: the worker fanned this run's requests out to them (SMTP unset: logged, delivered).
  await expect(async () => {
    await page.reload();
    await expect(page.getByTestId("delivery-log")).toContainText("write_request.created", { timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  await expect(page.getByTestId("delivery-log")).toContainText(world.admins[1]!.email);
});
