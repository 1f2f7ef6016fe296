import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, test, type Browser, type Page } from "@playwright/test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { RecordingProvider } from "@portcullis/oauth/testing";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { addConnection, createLink, createTeam, createUser } from "@portcullis/db/operations";
import { parseTargetUrl } from "@portcullis/db/target";

/**
 * OAuth 2.1 + PKCE end to end: the official SDK client, with its OAuthClientProvider, discovers the
 * dashboard from the gateway's 401, registers itself (RFC 7591: the SDK uses a Client ID Metadata
 * Document only for an https client_id URL, which a local test cannot serve), and a member signs in
 * and approves on the consent page in Chromium. The client then calls tools with its token.
 *
 * It runs against the stack the e2e harness started and needs, from the environment:
 *   E2E_WEB_URL (or the config's baseURL), E2E_GATEWAY_URL (default http://localhost:3001),
 *   DATABASE_URL and PORTCULLIS_SECRET_KEYS of that stack (the spec seeds its own team), and
 *   E2E_CHINOOK_URL (the Chinook target the harness created). support/global-setup.ts sets them all.
 * Missing variables fail the spec with a sentence; nothing is skipped.
 */

const PASSWORD = "a long passphrase for e2e";

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the OAuth e2e spec seeds its own team in the running stack's database (see the header of e2e/oauth.spec.ts)`);
  return value;
}

interface Seeded {
  prisma: PrismaClient;
  teamSlug: string;
  owner: string;
  ownerId: string;
  viewer: string;
  linkA: { id: string; name: string };
  linkB: { id: string; name: string };
}

async function seed(): Promise<Seeded> {
  const prisma = createPrismaClient(required("DATABASE_URL"));
  required("PORTCULLIS_SECRET_KEYS");
  const targetUrl = required("E2E_CHINOOK_URL");
  const tag = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const owner = await createUser(prisma, { email: `oauth-owner-${tag}@example.com`, password: PASSWORD });
  const viewer = await createUser(prisma, { email: `oauth-viewer-${tag}@example.com`, password: PASSWORD });
  const team = await createTeam(prisma, { name: `OAuth e2e ${tag}`, ownerId: owner.id });
  await prisma.membership.create({ data: { teamId: team.id, userId: viewer.id, role: "viewer" } });
  const connection = await addConnection(prisma, { teamId: team.id, name: "chinook", fields: { ...parseTargetUrl(targetUrl), sslMode: "disable" } });
  const scope = { access: "read", schemas: ["public"], tables: { customer: { hiddenColumns: ["email", "phone"] } } };
  const linkA = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: `oauth-a-${tag}`, scope });
  const linkB = await createLink(prisma, { teamId: team.id, connectionId: connection.id, name: `oauth-b-${tag}`, scope });
  return {
    prisma,
    teamSlug: team.slug,
    owner: owner.email,
    ownerId: owner.id,
    viewer: viewer.email,
    linkA: { id: linkA.id, name: linkA.name },
    linkB: { id: linkB.id, name: linkB.name },
  };
}

/** The loopback redirect a native MCP client listens on (RFC 8252 §7.3). */
async function startCallbackServer() {
  let deliver: ((url: URL) => void) | undefined;
  const server = http.createServer((req, res) => {
    deliver?.(new URL(req.url ?? "/", "http://127.0.0.1"));
    res.writeHead(200, { "content-type": "text/plain" }).end("Signed in. You can close this window.");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUrl: `http://127.0.0.1:${port}/callback`,
    /** Call before the click that triggers the redirect; resolves with the URL the browser lands on. */
    next(): Promise<URL> {
      return new Promise<URL>((resolve) => (deliver = resolve));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}


const WEB = () => (process.env.E2E_WEB_URL ?? test.info().project.use.baseURL ?? "http://localhost:3000").replace(/\/$/, "");
const GATEWAY = () => (process.env.E2E_GATEWAY_URL ?? "http://localhost:3001").replace(/\/$/, "");

async function signIn(page: Page, email: string) {
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: /sign in/i }).click();
}

async function openConsent(browser: Browser, url: URL, email: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url.toString());
  // Signed out: the dashboard asks for sign-in first and comes back with the request intact.
  await expect(page).toHaveURL(/\/sign-in/);
  await signIn(page, email);
  await expect(page.getByRole("heading", { name: /^Allow / })).toBeVisible({ timeout: 60_000 });
  return page;
}

async function initializeWith(token: string, linkId: string): Promise<number> {
  const response = await fetch(`${GATEWAY()}/mcp/${linkId}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } },
    }),
  });
  await response.body?.cancel();
  return response.status;
}

test.describe("OAuth sign-in from an MCP client", () => {
  let seeded: Seeded;

  test.beforeAll(async () => {
    seeded = await seed();
  });

  test.afterAll(async () => {
    await seeded?.prisma.$disconnect();
  });

  test("the SDK client signs in through the consent page, calls tools, is bound to its link, and is revoked from settings", async ({ browser }) => {
    test.setTimeout(180_000);
    const callback = await startCallbackServer();
    const provider = new RecordingProvider(callback.redirectUrl, "Portcullis e2e SDK client");
    const linkUrl = new URL(`${GATEWAY()}/mcp/${seeded.linkA.id}`);

    // 1. Unauthenticated: the gateway answers 401 + resource metadata; the SDK discovers the
    //    dashboard, registers, and hands us the authorization URL.
    const first = new Client({ name: "portcullis-e2e", version: "1.0.0" });
    await expect(first.connect(new StreamableHTTPClientTransport(linkUrl, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.origin).toBe(new URL(WEB()).origin);
    expect(authorizationUrl.searchParams.get("code_challenge_method")).toBe("S256");
    expect(authorizationUrl.searchParams.get("resource")).toBe(linkUrl.toString());

    // 2. The member approves in Chromium; the consent page says who asks, from where, for what.
    const page = await openConsent(browser, authorizationUrl, seeded.owner);
    await expect(page.getByTestId("consent-client-name")).toHaveText("Portcullis e2e SDK client");
    await expect(page.getByText("registered dynamically")).toBeVisible();
    await expect(page.getByTestId("consent-link-name")).toHaveText(seeded.linkA.name);
    await expect(page.getByTestId("consent-scope")).toContainText("read (SELECT)");
    // MCP 2026-07-28: the redirect URI's host is shown as is, a localhost-only client is warned about,
    // and the OAuth scopes being granted are listed (this 1.x client asks for none: all three).
    await expect(page.getByTestId("consent-redirect-host")).toHaveText(new URL(callback.redirectUrl).host);
    await expect(page.getByTestId("consent-localhost-warning")).toBeVisible();
    await expect(page.getByTestId("consent-scope-added")).toHaveCount(3);
    const arrived = callback.next();
    await page.getByRole("button", { name: "Approve" }).click();
    const redirect = await arrived;
    expect(redirect.searchParams.get("iss")).toBe(new URL(WEB()).origin);
    const code = redirect.searchParams.get("code");
    expect(code).toBeTruthy();

    // 3. The SDK exchanges the code (PKCE verifier, resource indicator) and calls tools.
    const transport = new StreamableHTTPClientTransport(linkUrl, { authProvider: provider });
    await transport.finishAuth(code!);
    const tokens = provider.tokens()!;
    expect(tokens.access_token).toMatch(/^pca_/);
    expect(tokens.refresh_token).toMatch(/^pcr_/);
    // Checked raw first so a gateway that does not accept OAuth tokens fails here, clearly, instead
    // of the SDK refreshing and retrying until the test times out.
    expect(await initializeWith(tokens.access_token, seeded.linkA.id), "the gateway must accept the OAuth access token for its link").toBe(200);
    const client = new Client({ name: "portcullis-e2e", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(linkUrl, { authProvider: provider }));
    const tools = (await client.listTools()).tools.map((tool) => tool.name);
    expect(tools).toEqual(expect.arrayContaining(["get_schema", "list_tables", "describe_table", "execute_sql", "explain_query", "get_permissions"]));
    const result = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT count(*) AS n FROM artist" } });
    expect(result.isError ?? false).toBe(false);
    expect(JSON.stringify(result.content)).toContain("275");

    // Activity: the grant and each call are attributed to the member and the client (through the
    // audit queue and the worker).
    const clientId = provider.clientInformation()!.client_id;
    await expect
      .poll(() => seeded.prisma.auditEvent.findMany({ where: { linkId: seeded.linkA.id }, select: { kind: true, tool: true, userId: true, oauthClientId: true } }), {
        timeout: 30_000,
      })
      .toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: "oauth_grant", userId: seeded.ownerId, oauthClientId: clientId }),
          expect.objectContaining({ kind: "tool_call", tool: "execute_sql", userId: seeded.ownerId, oauthClientId: clientId }),
        ]),
      );

    // 4. RFC 8707: the token minted for link A opens nothing on link B.
    expect(await initializeWith(tokens.access_token, seeded.linkB.id)).toBe(401);

    // 5. The member sees the client in settings and revokes it; every gateway drops it within a second.
    await page.goto(`${WEB()}/t/${seeded.teamSlug}/settings/authorized-apps`);
    const row = page.getByRole("row", { name: /Portcullis e2e SDK client/ });
    await expect(row).toContainText(seeded.linkA.name);
    await row.getByRole("button", { name: "Revoke" }).click();
    await page.getByRole("button", { name: "Revoke access" }).click();
    await expect(page.getByText("No authorized applications")).toBeVisible();
    await expect.poll(() => initializeWith(tokens.access_token, seeded.linkA.id), { timeout: 1_500, intervals: [100] }).toBe(401);
    // The refresh token died with the grant: the SDK has to send the member back to the consent page.
    await expect(client.callTool({ name: "list_tables", arguments: {} })).rejects.toThrow();
    await client.close().catch(() => {});
    await callback.close();
  });

  test("a member without access to the link sees the request but cannot approve it", async ({ browser }) => {
    const callback = await startCallbackServer();
    const provider = new RecordingProvider(callback.redirectUrl, "Portcullis e2e SDK client");
    const linkUrl = new URL(`${GATEWAY()}/mcp/${seeded.linkA.id}`);
    const client = new Client({ name: "portcullis-e2e", version: "1.0.0" });
    await expect(client.connect(new StreamableHTTPClientTransport(linkUrl, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);
    const page = await openConsent(browser, provider.authorizationUrl!, seeded.viewer);
    await expect(page.getByText("You do not have access to this link")).toBeVisible();
    await expect(page.getByRole("button", { name: "Approve" })).toHaveCount(0);
    // Nothing about the link leaks to someone who may not use it.
    await expect(page.getByText(seeded.linkA.name)).toHaveCount(0);
    const arrived = callback.next();
    await page.getByRole("button", { name: "Cancel" }).click();
    const denied = await arrived;
    expect(denied.searchParams.get("error")).toBe("access_denied");
    // RFC 9207: the error response names the issuer too.
    expect(denied.searchParams.get("iss")).toBe(new URL(WEB()).origin);
    await callback.close();
  });

  test("mcp-remote's sign-in completes headless: it prints the URL, Chromium approves, it lists the tools", async ({ browser }) => {
    test.setTimeout(180_000);
    // mcp-remote opens a browser when it can and always prints the URL; here nothing can be opened,
    // so the printed URL is driven in Chromium and mcp-remote's own loopback callback gets the code.
    const configDir = await mkdtemp(path.join(tmpdir(), "mcp-remote-"));
    const script = path.join(path.dirname(fileURLToPath(import.meta.url)), "node_modules/mcp-remote/dist/client.js");
    const child = spawn(process.execPath, [script, `${GATEWAY()}/mcp/${seeded.linkA.id}`, "--host", "127.0.0.1"], {
      env: { ...process.env, MCP_REMOTE_CONFIG_DIR: configDir, BROWSER: "/bin/false", DISPLAY: "" },
      // stdin stays open: mcp-remote treats its end as "the host closed me" and shuts down.
      stdio: ["pipe", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      await expect.poll(() => /Please authorize this client by visiting:\s+(\S+)/.exec(output)?.[1], { timeout: 60_000 }).toBeTruthy();
      const url = new URL(/Please authorize this client by visiting:\s+(\S+)/.exec(output)![1]!);
      expect(url.searchParams.get("code_challenge_method")).toBe("S256");
      const page = await openConsent(browser, url, seeded.owner);
      await expect(page.getByTestId("consent-client-name")).toHaveText(/MCP CLI Client/);
      await page.getByRole("button", { name: "Approve" }).click();
      await expect.poll(() => output, { timeout: 90_000 }).toContain("execute_sql");
      expect(output).toContain("get_permissions");
    } finally {
      child.stdin.end();
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      await rm(configDir, { recursive: true, force: true });
    }
  });
  test("an owner trusts an enterprise identity provider from Settings, a bad key is refused, and removal works", async ({ browser }) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`${WEB()}/t/${seeded.teamSlug}/settings`);
    await expect(page).toHaveURL(/\/sign-in/);
    await signIn(page, seeded.owner);
    await expect(page).not.toHaveURL(/\/sign-in/, { timeout: 60_000 });
    await page.goto(`${WEB()}/t/${seeded.teamSlug}/settings`);
    const section = page.getByTestId("identity-providers");
    await expect(section).toBeVisible({ timeout: 60_000 });
    const issuer = `https://idp-${Date.now()}.example.com`;
    await section.getByLabel("Name").fill("Acme IdP");
    await section.getByLabel(/^Issuer/).fill(issuer);
    await section.getByLabel(/Allowed client ids/).fill("pcc_e2e_client");
    // A symmetric key pasted as the "public" keys: refused, nothing stored.
    await section.getByLabel(/public keys/).fill(JSON.stringify({ keys: [{ kty: "oct", k: "c2VjcmV0" }] }));
    await section.getByRole("button", { name: "Trust this identity provider" }).click();
    await expect(section.getByText(/public keys only/)).toBeVisible();
    await expect(section.getByTestId("identity-provider-row")).toHaveCount(0);
    await section.getByLabel(/public keys/).fill(
      JSON.stringify({ keys: [{ kty: "EC", crv: "P-256", kid: "e2e-key", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" }] }),
    );
    await section.getByRole("button", { name: "Trust this identity provider" }).click();
    const row = section.getByTestId("identity-provider-row");
    await expect(row).toHaveCount(1);
    await expect(row).toContainText(issuer);
    await expect(row).toContainText("e2e-key");
    await row.getByRole("button", { name: "Remove" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Remove" }).click();
    await expect(section.getByTestId("identity-provider-row")).toHaveCount(0);
    expect(await seeded.prisma.trustedIdentityProvider.count({ where: { issuer } })).toBe(0);
  });
});
