import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { RecordingProvider } from "../src/testing/recording-provider.js";
import { createPrismaClient, type PrismaClient } from "@portcullis/db/client";
import { createMetadataDatabase, type TestDatabase } from "@portcullis/db/testing";
import {
  AccessTokenVerifier,
  approveAuthorization,
  createOAuthConfig,
  handleRegistrationRequest,
  handleRevocationRequest,
  handleTokenRequest,
  metadataResponse,
  parseAuthorizationRequest,
  type OAuthContext,
} from "../src/index.js";
import { createContext, createTeamWithLinks } from "./support/fixtures.js";

/**
 * Interoperability with the official MCP SDK client and its OAuthClientProvider, over real HTTP:
 * the package's Fetch handlers serve the authorization server, and a minimal resource server
 * stands in for the gateway exactly as the gateway is meant to use the package (401 +
 * WWW-Authenticate + RFC 9728 metadata, `AccessTokenVerifier`, revocation messages applied to the
 * verifier). The consent step is the package call the consent page makes; the browser half is in
 * e2e/oauth.spec.ts.
 */
let db: TestDatabase;
let prisma: PrismaClient;
let ctx: OAuthContext & { recorder: { revocations: { kind: string; grantId?: string }[] } };
let fx: Awaited<ReturnType<typeof createTeamWithLinks>>;
let asServer: http.Server;
let rsServer: http.Server;
let asUrl: string;
let rsUrl: string;
let verifier: AccessTokenVerifier;

async function toRequest(req: http.IncomingMessage, base: string): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(key, value);
  const body = chunks.length ? Buffer.concat(chunks) : undefined;
  return new Request(new URL(req.url ?? "/", base), { method: req.method, headers, ...(body && req.method !== "GET" ? { body } : {}) });
}

async function send(res: http.ServerResponse, response: Response): Promise<void> {
  res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
  res.end(Buffer.from(await response.arrayBuffer()));
}

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

beforeAll(async () => {
  db = await createMetadataDatabase();
  prisma = createPrismaClient(db.url);
  fx = await createTeamWithLinks(prisma);
  asServer = http.createServer(async (req, res) => {
    const request = await toRequest(req, asUrl);
    const path = new URL(request.url).pathname;
    if (path === "/.well-known/oauth-authorization-server") return send(res, metadataResponse(ctx.config, "oauth"));
    if (path === "/oauth/register") return send(res, await handleRegistrationRequest(ctx, request));
    if (path === "/oauth/token") return send(res, await handleTokenRequest(ctx, request));
    if (path === "/oauth/revoke") return send(res, await handleRevocationRequest(ctx, request));
    res.writeHead(404).end();
  });
  rsServer = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", rsUrl);
    const prm = /^\/\.well-known\/oauth-protected-resource\/mcp\/([^/]+)$/.exec(url.pathname);
    if (prm) {
      res.writeHead(200, { "content-type": "application/json" });
      return res.end(JSON.stringify({ resource: `${rsUrl}/mcp/${prm[1]}`, authorization_servers: [asUrl], bearer_methods_supported: ["header"] }));
    }
    const mcp = /^\/mcp\/([^/]+)$/.exec(url.pathname);
    if (!mcp || req.method !== "POST") return res.writeHead(405).end();
    const linkId = mcp[1]!;
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const principal = token && verifier.accepts(token) ? await verifier.verify(token, linkId) : null;
    if (!principal) {
      res.writeHead(401, {
        "www-authenticate": `Bearer error="invalid_token", resource_metadata="${rsUrl}/.well-known/oauth-protected-resource/mcp/${linkId}"`,
        "content-type": "application/json",
      });
      return res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: "Unauthorized" }, id: null }));
    }
    const server = new McpServer({ name: "stand-in gateway", version: "1.0.0" });
    server.registerTool("whoami", { description: "the principal" }, async () => ({ content: [{ type: "text", text: JSON.stringify(principal) }] }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    await transport.handleRequest(req, res, JSON.parse(Buffer.concat(chunks).toString("utf8")));
  });
  [asUrl, rsUrl] = await Promise.all([listen(asServer), listen(rsServer)]);
  ctx = createContext(prisma, { config: createOAuthConfig({ issuer: asUrl, gatewayPublicUrl: rsUrl }) });
  verifier = new AccessTokenVerifier({ prisma }, { ttlMs: 60_000 });
});

afterAll(async () => {
  asServer?.closeAllConnections();
  rsServer?.closeAllConnections();
  await Promise.all([new Promise((r) => asServer?.close(r)), new Promise((r) => rsServer?.close(r))]);
  await prisma?.$disconnect();
  await db?.drop();
});


async function rawInitialize(token: string, linkId: string): Promise<number> {
  const response = await fetch(`${rsUrl}/mcp/${linkId}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } }),
  });
  await response.body?.cancel();
  return response.status;
}

describe("the MCP SDK client against the authorization server", () => {
  it("discovers, registers, authorizes with PKCE and a resource indicator, calls a tool, refreshes, and is cut off by revocation", async () => {
    const provider = new RecordingProvider("http://127.0.0.1:45678/callback", "SDK interop client");
    const linkUrl = new URL(`${rsUrl}/mcp/${fx.linkA.id}`);
    const first = new Client({ name: "interop", version: "1.0.0" });
    await expect(first.connect(new StreamableHTTPClientTransport(linkUrl, { authProvider: provider }))).rejects.toBeInstanceOf(UnauthorizedError);

    const authorizationUrl = provider.authorizationUrl!;
    expect(authorizationUrl.toString().startsWith(`${asUrl}/oauth/authorize?`)).toBe(true);
    expect(authorizationUrl.searchParams.get("resource")).toBe(linkUrl.toString());
    // What the consent page does when the owner clicks Approve.
    const parsed = await parseAuthorizationRequest(ctx, authorizationUrl.searchParams);
    if (!parsed.ok) throw parsed.error;
    expect(parsed.client.name).toBe("SDK interop client");
    const redirect = new URL(await approveAuthorization(ctx, { request: parsed.request, client: parsed.client, userId: fx.users.owner.id }));
    await new StreamableHTTPClientTransport(linkUrl, { authProvider: provider }).finishAuth(redirect.searchParams.get("code")!);

    const client = new Client({ name: "interop", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(linkUrl, { authProvider: provider }));
    const result = await client.callTool({ name: "whoami", arguments: {} });
    const principal = JSON.parse((result.content as { text: string }[])[0]!.text);
    expect(principal).toMatchObject({ linkId: fx.linkA.id, userId: fx.users.owner.id, teamId: fx.team.id, clientName: "SDK interop client" });
    expect(principal.clientId).toMatch(/^pcc_/);

    const tokens = provider.tokens()!;
    expect(await rawInitialize(tokens.access_token, fx.linkB.id)).toBe(401);

    // Refresh through the SDK's own code path, then revoke with RFC 7009 and apply the broadcast.
    const { auth } = await import("@modelcontextprotocol/sdk/client/auth.js");
    provider.saveTokens({ ...tokens, access_token: "pca_expired" });
    expect(await auth(provider, { serverUrl: linkUrl })).toBe("AUTHORIZED");
    const refreshed = provider.tokens()!;
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    expect(await rawInitialize(refreshed.access_token, fx.linkA.id)).toBe(200);

    const revoke = await fetch(`${asUrl}/oauth/revoke`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: refreshed.refresh_token!, client_id: principal.clientId }),
    });
    expect(revoke.status).toBe(200);
    for (const message of ctx.recorder.revocations) verifier.invalidate(message);
    expect(await rawInitialize(refreshed.access_token, fx.linkA.id)).toBe(401);
  });
});
