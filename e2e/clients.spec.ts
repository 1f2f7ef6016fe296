import { randomBytes } from "node:crypto";
import { expect, test } from "@playwright/test";
import type { ClientUnderTest, ToolCallSeen } from "./support/clients/client-under-test";
import { inspectorCli } from "./support/clients/inspector-cli";
import { codeBlocks, readmeText } from "./readme/readme-contract";
import { connectMcpRemote } from "./support/clients/mcp-remote";
import { connectV1, connectV2 } from "./support/clients/sdk-clients";
import { type ClientWorld, auditRowsOfKey, revokeKey, seedClientWorld } from "./support/clients/world";
import { screenshot, signIn, webUrl } from "./support/stack";

/**
 * Issue 13, item 7: real MCP clients against the running stack, in both eras on one endpoint. Each
 * client, in each mode: lists the tools, runs a read, is refused with an explanation (the structured
 * refusal and the words), and is revoked (its next call fails authentication). Which revision it
 * actually spoke is read from its audit rows in the database (written by the worker from the
 * gateway's events), not from the client's own claims; the Activity test reads the same on the page.
 * Each test stands alone (its own key, its own calls): one client failing does not hide the others.
 */

const READ_SQL = "SELECT name FROM artist ORDER BY artist_id LIMIT 3";
const REFUSED_SQL = "SELECT first_name, email FROM customer LIMIT 5";
const CORE_TOOLS = ["describe_table", "execute_sql", "explain_query", "get_permissions", "get_schema", "list_tables"];

let world: ClientWorld;

test.beforeAll(async () => {
  world = await seedClientWorld();
});

test.afterAll(async () => {
  await world?.close();
});

/** One trace per run: the v2 pinned client sends it in _meta, and its audit rows must carry the trace id. */
const TRACE_ID = randomBytes(16).toString("hex");
const TRACEPARENT = `00-${TRACE_ID}-${randomBytes(8).toString("hex")}-01`;

interface Case {
  label: string;
  connect(url: string, key: string): Promise<ClientUnderTest>;
  /** Checks only this client can make (what it says it negotiated). */
  extra?(client: ClientUnderTest): void;
}

const CASES: Case[] = [
  {
    label: "v2 client pinned to 2026-07-28",
    connect: (url, key) => connectV2(url, key, "pinned", TRACEPARENT),
    extra: (c) => expect((c as Awaited<ReturnType<typeof connectV2>>).negotiated()).toBe("2026-07-28"),
  },
  {
    label: "v2 client, auto",
    connect: (url, key) => connectV2(url, key, "auto"),
    extra: (c) => expect((c as Awaited<ReturnType<typeof connectV2>>).negotiated()).toBe("2026-07-28"),
  },
  {
    label: "v2 client, default (no versionNegotiation)",
    connect: (url, key) => connectV2(url, key, "default"),
    extra: (c) => expect((c as Awaited<ReturnType<typeof connectV2>>).negotiated()).toBe("2025-11-25"),
  },
  { label: "1.x SDK client", connect: (url, key) => connectV1(url, key) },
  { label: "Inspector CLI 2.12, protocolEra modern", connect: async (url, key) => inspectorCli(url, key, "modern") },
  { label: "Inspector CLI 2.12, default (legacy)", connect: async (url, key) => inspectorCli(url, key, "legacy") },
  { label: "mcp-remote --protocol auto", connect: (url, key) => connectMcpRemote(url, key, "auto") },
  { label: "mcp-remote, default", connect: (url, key) => connectMcpRemote(url, key, "legacy") },
];

/** The README's snippet (a JSON block) that contains `marker`, with the placeholders filled in for this stack. */
function readmeSnippet(marker: string, linkId: string, key: string): { mcpServers: Record<string, Record<string, unknown>> } {
  const block = codeBlocks(readmeText()).find((b) => b.lang === "json" && b.text.includes(marker));
  if (!block) throw new Error(`README.md has no json block containing ${marker}`);
  const filled = block.text
    .replaceAll("http://localhost:3001", process.env.E2E_GATEWAY_URL!)
    .replaceAll("<linkId>", linkId)
    .replaceAll("<key>", key);
  return JSON.parse(filled) as { mcpServers: Record<string, Record<string, unknown>> };
}

function describeCall(seen: ToolCallSeen): string {
  return JSON.stringify({ isError: seen.isError, text: seen.text.slice(0, 600), structuredContent: seen.structuredContent }).slice(0, 1500);
}

for (const c of CASES) {
  test(`${c.label}: lists tools, reads, is refused with an explanation, is revoked; the audit records its revision`, async () => {
    test.setTimeout(180_000);
    const key = await world.issueKey(c.label);
    const client = await c.connect(world.linkUrl, key.key);
    try {
      c.extra?.(client);

      const tools = await client.listTools();
      expect(tools, `${c.label} tools`).toEqual(expect.arrayContaining(CORE_TOOLS));

      const read = await client.callTool("execute_sql", { sql: READ_SQL });
      expect(read.isError, describeCall(read)).toBe(false);
      expect(read.text).toContain("AC/DC");
      // Typed result: the rows as data, not only as text.
      expect(read.structuredContent, describeCall(read)).toMatchObject({ status: "ok" });
      expect(JSON.stringify(read.structuredContent)).toContain("AC/DC");

      const refused = await client.callTool("execute_sql", { sql: REFUSED_SQL });
      expect(refused.isError, describeCall(refused)).toBe(true);
      // The words, for the model…
      expect(refused.text).toMatch(/email/);
      // …and the same as data: the rule, the reason and what the link allows.
      expect(refused.structuredContent, describeCall(refused)).toMatchObject({
        status: "refused",
        refusal: { ruleId: expect.stringMatching(/\w/), reason: expect.stringMatching(/email/), allows: { access: "read" } },
      });
      // The hidden table does not exist for the link, whatever client asks.
      const listed = await client.callTool("list_tables", {});
      expect(listed.text).toContain("customer");
      expect(`${listed.text}${JSON.stringify(listed.structuredContent ?? {})}`).not.toMatch(/\bemployee\b/);

      await revokeKey(key.id);
      // Revocation is broadcast: within seconds the next call fails authentication (401). A call, not
      // tools/list: 2026-07-28 clients may answer a list from their cache for its ttlMs.
      await expect
        .poll(
          () =>
            client.callAfterRevocation?.("execute_sql", { sql: READ_SQL }) ??
            client.callTool("execute_sql", { sql: READ_SQL }).then(
              (r) => `answered: ${describeCall(r)}`,
              (error: Error) => error.message,
            ),
          { timeout: 30_000, message: `${c.label}: the next call after revocation` },
        )
        .toMatch(/401|unauthori[sz]ed|invalid_token|auth_required|authenticat/i);
    } finally {
      await client.close().catch(() => {});
    }

    // Which revision was negotiated, as the gateway recorded it (two execute_sql and one list_tables).
    const rows = (await auditRowsOfKey(key.id, 3)).filter((r) => r.kind === "tool_call");
    expect(rows.map((r) => [r.tool, r.verdict]), `${c.label} audit rows`).toEqual([
      ["execute_sql", "allowed"],
      ["execute_sql", "blocked"],
      ["list_tables", "allowed"],
    ]);
    for (const row of rows) {
      expect(row.protocol_version, `${c.label}: revision on its audit row`).toBe(client.expectedRevision);
      expect(row.client_name, `${c.label}: client name on its audit row`).toBeTruthy();
    }
    expect(rows[1]!.rule_id).toBeTruthy();
    if (c.label.startsWith("v2 client pinned")) {
      // The trace id from the request's traceparent, on the calls that carried it.
      expect(rows.map((r) => r.trace_id)).toEqual([TRACE_ID, TRACE_ID, TRACE_ID]);
    }
    console.log(`[clients] ${c.label}: revision ${rows[0]!.protocol_version}, client "${rows[0]!.client_name} ${rows[0]!.client_version ?? ""}"`);
  });
}

test("the README's 2026-07-28 snippets (mcp-remote --protocol auto, Inspector protocolEra modern) speak 2026-07-28 as written", async () => {
  test.setTimeout(120_000);
  const remoteKey = await world.issueKey("readme-mcp-remote");
  const desktop = Object.values(readmeSnippet('"--protocol", "auto"', world.linkId, remoteKey.key).mcpServers)[0]!;
  const args = desktop.args as string[];
  // `npx -y mcp-remote …` as Claude Desktop runs it; the suite runs the same package from e2e/node_modules.
  expect(args.slice(0, 2)).toEqual(["-y", "mcp-remote"]);
  const remote = await connectMcpRemote(world.linkUrl, remoteKey.key, "auto", args.slice(2));
  try {
    expect((await remote.callTool("execute_sql", { sql: READ_SQL })).text).toContain("AC/DC");
  } finally {
    await remote.close();
  }
  const inspectorKey = await world.issueKey("readme-inspector");
  const inspector = inspectorCli(world.linkUrl, inspectorKey.key, "modern", readmeSnippet('"protocolEra": "modern"', world.linkId, inspectorKey.key));
  try {
    expect((await inspector.callTool("execute_sql", { sql: READ_SQL })).text).toContain("AC/DC");
  } finally {
    await inspector.close();
  }
  for (const key of [remoteKey, inspectorKey]) {
    const rows = await auditRowsOfKey(key.id, 1);
    expect(rows.map((r) => [r.tool, r.protocol_version])).toEqual([["execute_sql", "2026-07-28"]]);
  }
});

test("Activity shows each call's client and revision, filters by revision, and shows the trace id", async ({ page }) => {
  // Its own calls, so this test does not depend on the others having run.
  for (const connect of [() => world.issueKey("activity-v2").then((k) => connectV2(world.linkUrl, k.key, "pinned", TRACEPARENT)), () => world.issueKey("activity-v1").then((k) => connectV1(world.linkUrl, k.key))]) {
    const client = await connect();
    expect((await client.callTool("execute_sql", { sql: READ_SQL })).isError).toBe(false);
    await client.close();
  }
  await signIn(page, world.ownerEmail);
  await page.waitForURL(/\/t\//);
  const table = page.getByTestId("activity-table");
  await expect(async () => {
    await page.goto(webUrl(`/t/${world.slug}/activity?revision=2026-07-28`));
    await expect(table.getByText("e2e-v2-pinned 2.4.0 · 2026-07-28").first()).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  // Every line under a statement names the revision filtered on, and only it.
  for (const text of await table.getByTestId("event-client").allTextContents()) expect(text).toMatch(/ · 2026-07-28$/);

  // The pinned client's read: its detail shows the revision and the trace id it sent.
  const row = table.locator("tr", { hasText: READ_SQL }).filter({ hasText: "e2e-v2-pinned" });
  await row.first().getByRole("link").first().click();
  const detail = page.getByTestId("event-detail");
  await expect(detail).toContainText("2026-07-28");
  await expect(detail.getByTestId("event-trace-id")).toHaveText(TRACE_ID);
  await screenshot(page, "activity-revisions");

  await expect(async () => {
    await page.goto(webUrl(`/t/${world.slug}/activity?revision=2025-11-25`));
    await expect(table.getByText("e2e-sdk1 1.0.0 · 2025-11-25").first()).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  for (const text of await table.getByTestId("event-client").allTextContents()) expect(text).toMatch(/ · 2025-11-25$/);

  // The dashboard's Playground takes the same call path; its calls are marked as such, not as an MCP revision.
  await page.goto(webUrl(`/t/${world.slug}/links/${world.linkId}`));
  await page.getByRole("link", { name: "Playground" }).click();
  await page.getByLabel("SQL").fill(READ_SQL);
  await page.getByRole("button", { name: /^Run/ }).click();
  await expect(page.getByTestId("playground-result").getByText("Allowed")).toBeVisible();
  await expect(async () => {
    await page.goto(webUrl(`/t/${world.slug}/activity?revision=playground`));
    await expect(table.getByText("portcullis-playground · Playground").first()).toBeVisible({ timeout: 1000 });
  }).toPass({ timeout: 30_000 });
  for (const text of await table.getByTestId("event-client").allTextContents()) expect(text).toMatch(/ · Playground$/);
});

/** One JSON-RPC exchange over plain HTTP, as a hand-written 2025 client makes it; JSON or SSE reply. */
async function rawCall(url: string, headers: Record<string, string>, body: unknown): Promise<{ status: number; headers: Headers; message: Record<string, unknown> | undefined }> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  const json = (res.headers.get("content-type") ?? "").includes("text/event-stream")
    ? text.split("\n").find((l) => l.startsWith("data: "))?.slice(6)
    : text;
  return { status: res.status, headers: res.headers, message: json ? (JSON.parse(json) as Record<string, unknown>) : undefined };
}

test("the older 2025 revisions are recorded as negotiated: 2025-06-18 by its header, 2025-03-26 from the session (no header)", async () => {
  for (const revision of ["2025-06-18", "2025-03-26"] as const) {
    const key = await world.issueKey(`raw-${revision}`);
    const auth = { Authorization: `Bearer ${key.key}` };
    const init = await rawCall(world.linkUrl, auth, {
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: revision, capabilities: {}, clientInfo: { name: `e2e-raw-${revision}`, version: "0.1" } },
    });
    expect(init.status, JSON.stringify(init.message)).toBe(200);
    expect(init.message).toMatchObject({ result: { protocolVersion: revision } });
    const session = init.headers.get("mcp-session-id");
    expect(session).toBeTruthy();
    // 2025-03-26 clients do not send MCP-Protocol-Version (the header came in 2025-06-18).
    const call = await rawCall(
      world.linkUrl,
      { ...auth, "mcp-session-id": session!, ...(revision === "2025-06-18" ? { "mcp-protocol-version": revision } : {}) },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "execute_sql", arguments: { sql: READ_SQL } } },
    );
    expect(call.status).toBe(200);
    expect(JSON.stringify(call.message)).toContain("AC/DC");
    const rows = await auditRowsOfKey(key.id, 1);
    expect(rows.map((r) => [r.tool, r.protocol_version, r.client_name, r.client_version])).toEqual([["execute_sql", revision, `e2e-raw-${revision}`, "0.1"]]);
  }
});

test("a malformed traceparent neither fails the call nor loses its audit row: the row is stored without a trace id", async () => {
  // W3C Trace Context: a traceparent that does not parse is ignored, the request is served. The worker
  // refuses an event whose trace id is not 32 lowercase hex (dead-lettered: the call would be missing
  // from the trail), so the gateway must drop a bad one rather than pass it on.
  const bad = [
    `00-${TRACE_ID.toUpperCase()}-${"a".repeat(16)}-01`,
    `00-${"0".repeat(32)}-${"a".repeat(16)}-01`,
    `00-${TRACE_ID}ab-${"a".repeat(16)}-01`,
    "not a traceparent",
  ];
  const key = await world.issueKey("bad-traceparent");
  for (const traceparent of bad) {
    const client = await connectV2(world.linkUrl, key.key, "pinned", traceparent);
    try {
      const read = await client.callTool("execute_sql", { sql: READ_SQL });
      // The client sent it as given (it does not clean it up on its own).
      expect(client.sentBodies().some((b) => b.includes(`"traceparent":${JSON.stringify(traceparent)}`))).toBe(true);
      expect(read.isError, `${traceparent}: ${describeCall(read)}`).toBe(false);
      expect(read.text).toContain("AC/DC");
    } finally {
      await client.close();
    }
  }
  const rows = await auditRowsOfKey(key.id, bad.length);
  expect(rows.map((r) => [r.tool, r.protocol_version, r.trace_id])).toEqual(bad.map(() => ["execute_sql", "2026-07-28", null]));
});
