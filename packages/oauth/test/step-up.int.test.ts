import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "@portcullis/db/testing";
import { GatewayWorld, rawPost } from "../../../apps/gateway/test/fixtures.js";
import {
  approveAuthorization,
  createOAuthConfig,
  handleRegistrationRequest,
  handleTokenRequest,
  metadataResponse,
  parseAuthorizationRequest,
  verifyAccessToken,
  type OAuthContext,
} from "../src/index.js";
import { createContext } from "./support/fixtures.js";

/**
 * Step-up authorization end to end with the real v2 client (@modelcontextprotocol/client 2.4,
 * pinned to 2026-07-28, `onInsufficientScope: 'reauthorize'` by default): the authorization server
 * over HTTP, the real gateway, consent given headlessly in the provider's redirect hook (the call the
 * consent page makes). A token with mcp:read reads; a write the link allows is answered 403
 * insufficient_scope; the client re-authorizes for the union and the write runs.
 */
// The v2 client is a dependency of the gateway (where the protocol layer lives), not of this package.
const gatewayRequire = createRequire(path.resolve(import.meta.dirname, "../../../apps/gateway/package.json"));
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- typed at the use sites below
const v2: any = await import(gatewayRequire.resolve("@modelcontextprotocol/client"));

let world: GatewayWorld;
let asServer: http.Server;
let asUrl: string;
let gatewayUrl: string;
let ctx: OAuthContext;
let linkId: string;

async function toRequest(req: http.IncomingMessage, base: string): Promise<Request> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) if (typeof value === "string") headers.set(key, value);
  const body = chunks.length ? Buffer.concat(chunks) : undefined;
  return new Request(new URL(req.url ?? "/", base), { method: req.method, headers, ...(body && req.method !== "GET" ? { body } : {}) });
}

/** A CLI-style client's OAuth state, with the consent step done by the member in-process. */
class HeadlessProvider {
  readonly asked: string[] = [];
  private info: unknown;
  private saved: { access_token: string; scope?: string } | undefined;
  private verifier = "";
  callback: URLSearchParams | undefined;
  constructor(private readonly userId: string) {}
  get redirectUrl() {
    return "http://127.0.0.1:53682/callback";
  }
  get clientMetadata() {
    return {
      client_name: "Step-up CLI",
      redirect_uris: [this.redirectUrl],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "none",
      application_type: "native",
      // Starts small, as the revision expects; the server challenges for more.
      scope: "mcp:read",
    };
  }
  clientInformation() {
    return this.info;
  }
  saveClientInformation(info: unknown) {
    this.info = info;
  }
  tokens() {
    return this.saved;
  }
  saveTokens(tokens: { access_token: string; scope?: string }) {
    this.saved = tokens;
  }
  saveCodeVerifier(verifier: string) {
    this.verifier = verifier;
  }
  codeVerifier() {
    return this.verifier;
  }
  // SEP-2352: the client binds the callback leg to the authorization server it discovered.
  private discovery: unknown;
  saveDiscoveryState(state: unknown) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery;
  }
  async redirectToAuthorization(url: URL) {
    this.asked.push(url.searchParams.get("scope") ?? "");
    const parsed = await parseAuthorizationRequest(ctx, url.searchParams);
    if (!parsed.ok) throw parsed.error;
    this.callback = new URL(await approveAuthorization(ctx, { request: parsed.request, client: parsed.client, userId: this.userId })).searchParams;
  }
}

beforeAll(async () => {
  world = await GatewayWorld.create();
  asServer = http.createServer(async (req, res) => {
    const request = await toRequest(req, asUrl);
    const pathname = new URL(request.url).pathname;
    let response: Response;
    if (pathname === "/.well-known/oauth-authorization-server") response = metadataResponse(ctx.config, "oauth");
    else if (pathname === "/.well-known/openid-configuration") response = metadataResponse(ctx.config, "openid");
    else if (pathname === "/oauth/register") response = await handleRegistrationRequest(ctx, request);
    else if (pathname === "/oauth/token") response = await handleTokenRequest(ctx, request);
    else response = new Response("not found", { status: 404 });
    res.writeHead(response.status, Object.fromEntries(response.headers.entries()));
    res.end(Buffer.from(await response.arrayBuffer()));
  });
  await new Promise<void>((resolve) => asServer.listen(0, "127.0.0.1", resolve));
  asUrl = `http://127.0.0.1:${(asServer.address() as AddressInfo).port}`;
  const port = await freePort();
  gatewayUrl = `http://127.0.0.1:${port}`;
  await world.startGateway({ GATEWAY_PORT: String(port), GATEWAY_PUBLIC_URL: gatewayUrl, WEB_PUBLIC_URL: asUrl });
  ctx = createContext(world.prisma, { config: createOAuthConfig({ issuer: asUrl, gatewayPublicUrl: gatewayUrl }) });
  linkId = (await world.addLink({ access: "write", schemas: ["public"] })).linkId;
}, 120_000);

afterAll(async () => {
  asServer?.closeAllConnections();
  await new Promise((resolve) => asServer?.close(resolve));
  await world?.close();
});

describe("step-up with the v2 client", () => {
  it("mcp:read reads; a write is challenged with 403 insufficient_scope; re-authorized for the union, it runs", async () => {
    const provider = new HeadlessProvider(world.userId);
    const url = new URL(`${gatewayUrl}/mcp/${linkId}`);
    const newClient = () => new v2.Client({ name: "step-up-client", version: "1.0.0" }, { versionNegotiation: { mode: { pin: "2026-07-28" } } });
    let transport = new v2.StreamableHTTPClientTransport(url, { authProvider: provider });
    let client = newClient();
    // First contact: 401 → the client registers, is sent to consent (done in the hook), and stops.
    await expect(client.connect(transport)).rejects.toBeInstanceOf(v2.UnauthorizedError);
    await transport.finishAuth(provider.callback!);
    expect(provider.tokens()?.scope).toBe("mcp:read");
    const first = provider.tokens()!.access_token;
    expect((await verifyAccessToken({ prisma: world.prisma, token: first, linkId }))?.scopes).toEqual(["mcp:read"]);

    transport = new v2.StreamableHTTPClientTransport(url, { authProvider: provider });
    client = newClient();
    await client.connect(transport);
    try {
      const read = await client.callTool({ name: "execute_sql", arguments: { sql: "SELECT name FROM genre ORDER BY genre_id LIMIT 1" } });
      expect(read.isError ?? false).toBe(false);

      // The wire, as any client sees it, for the old token: 403 with the scopes to ask for.
      const challenge = await rawPost(
        url.href,
        { jsonrpc: "2.0", id: 9, method: "tools/call", params: { name: "execute_sql", arguments: { sql: "UPDATE genre SET name = name WHERE genre_id = 1" }, _meta: { "io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {} } } },
        { authorization: `Bearer ${first}`, "mcp-protocol-version": "2026-07-28", "mcp-method": "tools/call", "mcp-name": "execute_sql" },
      );
      expect(challenge.status).toBe(403);
      expect(challenge.headers.get("www-authenticate")).toMatch(/error="insufficient_scope"/);
      expect(challenge.headers.get("www-authenticate")).toMatch(/scope="mcp:read mcp:write"/);

      // The v2 client meets the same 403 inside callTool: it re-authorizes (our hook consents) and
      // retries once; whether it retries itself or surfaces UnauthorizedError depends on whether
      // the authorization needed a browser — here it did, so it stops and the host finishes.
      let wrote: { isError?: boolean; content: { text: string }[] } | undefined;
      try {
        wrote = await client.callTool({ name: "execute_sql", arguments: { sql: "UPDATE genre SET name = name WHERE genre_id = 1" } });
      } catch (error) {
        console.info("step-up: the v2 client stopped for the browser leg and the host finished it");
        expect(error).toBeInstanceOf(v2.UnauthorizedError);
        await transport.finishAuth(provider.callback!);
        wrote = await client.callTool({ name: "execute_sql", arguments: { sql: "UPDATE genre SET name = name WHERE genre_id = 1" } });
      }
      // It asked for the union of what it had and what the challenge named.
      expect(provider.asked.at(-1)!.split(" ").sort()).toEqual(["mcp:read", "mcp:write"]);
      expect(provider.tokens()?.scope).toBe("mcp:read mcp:write");
      expect((await verifyAccessToken({ prisma: world.prisma, token: provider.tokens()!.access_token, linkId }))?.scopes).toEqual(["mcp:read", "mcp:write"]);
      expect(wrote!.isError ?? false, JSON.stringify(wrote)).toBe(false);
    } finally {
      await client.close();
    }
  });
});
