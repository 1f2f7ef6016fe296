import { z } from "zod";
import { registerClient } from "./clients.js";
import type { OAuthConfig } from "./config.js";
import type { OAuthContext } from "./context.js";
import { OAuthError, isOAuthError } from "./errors.js";
import { revokeToken } from "./grants.js";
import { authorizationServerMetadata, openidConfiguration } from "./metadata.js";
import { handleTokenGrant } from "./tokens.js";

/**
 * The endpoints other programs call, as plain Fetch-API handlers (Request → Response): the Next.js
 * route handlers in apps/web are one-line wrappers around these, and the integration tests call them
 * directly. The consent page is not here: it needs the dashboard's session.
 */

/** MCP clients running in a browser (the Inspector) call these cross-origin; none use cookies. */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "authorization, content-type, mcp-protocol-version",
  "access-control-max-age": "86400",
};
const MAX_BODY_BYTES = 16 * 1024;

function json(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", "cache-control": "no-store", pragma: "no-cache", ...CORS, ...extra },
  });
}

export function errorResponse(error: OAuthError): Response {
  // RFC 6749 §5.2: invalid_client on a request without Authorization is still 401 with a challenge.
  const extra: Record<string, string> = error.status === 401 ? { "www-authenticate": 'Basic realm="portcullis"' } : {};
  return json(error.toJSON(), error.status, extra);
}

export function preflightResponse(): Response {
  return new Response(null, { status: 204, headers: CORS });
}

export function metadataResponse(config: OAuthConfig, kind: "oauth" | "openid"): Response {
  const body = kind === "oauth" ? authorizationServerMetadata(config) : openidConfiguration(config);
  return new Response(JSON.stringify(body), {
    headers: { "content-type": "application/json", "cache-control": "public, max-age=300", ...CORS },
  });
}

/**
 * The request body as text, never more than `max` bytes held: the declared Content-Length is checked
 * first, then the stream itself is counted as it arrives (a chunked body declares no length), and
 * reading stops — the stream cancelled — at the first byte over.
 */
export async function readLimitedText(request: Request, max = MAX_BODY_BYTES): Promise<string> {
  const declared = request.headers.get("content-length");
  if (declared !== null && !(Number(declared) <= max)) throw new OAuthError("invalid_request", "request body too large", 413);
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      throw new OAuthError("invalid_request", "request body too large", 413);
    }
    chunks.push(value);
  }
  return new TextDecoder("utf-8", { fatal: false }).decode(Buffer.concat(chunks));
}

function readBody(request: Request): Promise<string> {
  return readLimitedText(request, MAX_BODY_BYTES);
}

/**
 * The parameters the token and revocation endpoints read, each a bounded string (resource may repeat).
 * Unknown parameters are ignored, as RFC 6749 §3.2 requires, but never passed on.
 */
// NUL cannot be stored or looked up in PostgreSQL text: refused here rather than failing as a 500 there.
const formValue = z.string().max(4096).refine((v) => !v.includes("\0"), "NUL is not allowed");
const oauthFormSchema = z.object({
  grant_type: formValue.optional(),
  code: formValue.optional(),
  redirect_uri: formValue.optional(),
  code_verifier: formValue.optional(),
  client_id: formValue.optional(),
  refresh_token: formValue.optional(),
  scope: formValue.optional(),
  token: formValue.optional(),
  token_type_hint: formValue.optional(),
  // An RSA-signed ID-JAG with a few claims is 1–2 KB; room for larger keys and claims, still bounded.
  assertion: z.string().max(12_000).refine((v) => !v.includes("\0"), "NUL is not allowed").optional(),
  resource: z.array(formValue).max(10),
});

function parseForm(raw: URLSearchParams): URLSearchParams {
  const single = Object.fromEntries([...raw.entries()].filter(([k]) => k !== "resource"));
  const parsed = oauthFormSchema.safeParse({ ...single, resource: raw.getAll("resource") });
  if (!parsed.success) throw new OAuthError("invalid_request", `invalid parameter ${parsed.error.issues[0]?.path.join(".") ?? ""}`.trim());
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(parsed.data)) {
    if (Array.isArray(value)) for (const v of value) form.append(key, v);
    else if (value !== undefined) form.set(key, value);
  }
  return form;
}

async function readForm(request: Request): Promise<URLSearchParams> {
  const type = request.headers.get("content-type") ?? "";
  if (!type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    throw new OAuthError("invalid_request", "the body must be application/x-www-form-urlencoded");
  }
  const form = new URLSearchParams(await readBody(request));
  // A parameter sent twice is ambiguous, and RFC 6749 §3.1 forbids it (resource excepted, RFC 8707).
  for (const key of new Set(form.keys())) {
    if (key !== "resource" && form.getAll(key).length > 1) throw new OAuthError("invalid_request", `parameter ${key} is repeated`);
  }
  applyBasicAuth(request, form);
  return parseForm(form);
}

/**
 * Public clients send client_id in the body; some send it as HTTP Basic with an empty secret. Both
 * are accepted; a secret is refused, since we never issued one.
 */
function applyBasicAuth(request: Request, form: URLSearchParams): void {
  const header = request.headers.get("authorization");
  if (!header) return;
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
  if (!match) throw new OAuthError("invalid_client", "unsupported client authentication");
  const decoded = Buffer.from(match[1]!, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  const id = decodeURIComponent(colon === -1 ? decoded : decoded.slice(0, colon));
  const secret = colon === -1 ? "" : decoded.slice(colon + 1);
  if (secret) throw new OAuthError("invalid_client", "this server registers public clients only; no client secret is valid");
  if (form.has("client_id") && form.get("client_id") !== id) throw new OAuthError("invalid_request", "client_id differs between the body and Authorization");
  form.set("client_id", id);
}

/**
 * Where a request came from, as the caller resolved it. The hosting app knows its proxies (the
 * dashboard's TRUST_PROXY and peer header) and passes `sourceIp`; without it the headers are all
 * there is, and any client can write them, so this is a label for the audit trail, never a limit key.
 */
export interface RequestOrigin {
  sourceIp?: string | null;
}

function originOf(request: Request, origin: RequestOrigin): string | null {
  return origin.sourceIp !== undefined ? origin.sourceIp : clientAddress(request);
}

export function clientAddress(request: Request): string | null {
  const forwarded = request.headers.get("x-forwarded-for");
  return forwarded ? (forwarded.split(",")[0]?.trim() ?? null) : (request.headers.get("x-real-ip") ?? null);
}

async function guarded(run: () => Promise<Response>, ctx: OAuthContext): Promise<Response> {
  try {
    return await run();
  } catch (error) {
    if (isOAuthError(error)) return errorResponse(error);
    ctx.warn?.("unexpected error in an OAuth endpoint", { err: (error as Error).message, stack: (error as Error).stack });
    return errorResponse(new OAuthError("server_error", "unexpected error"));
  }
}

/** POST /oauth/token */
export function handleTokenRequest(ctx: OAuthContext, request: Request, origin: RequestOrigin = {}): Promise<Response> {
  return guarded(async () => {
    const form = await readForm(request);
    const tokens = await handleTokenGrant(ctx, form, { sourceIp: originOf(request, origin) });
    return json(tokens);
  }, ctx);
}

/** POST /oauth/register (RFC 7591) */
export function handleRegistrationRequest(ctx: OAuthContext, request: Request): Promise<Response> {
  return guarded(async () => {
    const type = request.headers.get("content-type") ?? "";
    if (!type.toLowerCase().startsWith("application/json")) throw new OAuthError("invalid_client_metadata", "the body must be JSON");
    let body: unknown;
    try {
      const text = await readBody(request);
      // A NUL (raw or escaped) would reach PostgreSQL text columns, which cannot hold it.
      if (text.includes("\0") || /\\u0000/i.test(text)) throw new OAuthError("invalid_client_metadata", "NUL characters are not allowed");
      body = JSON.parse(text);
    } catch (error) {
      if (isOAuthError(error)) throw error;
      throw new OAuthError("invalid_client_metadata", "the body is not valid JSON");
    }
    return json(await registerClient(ctx, body), 201);
  }, ctx);
}

/** POST /oauth/revoke (RFC 7009): 200 whether or not the token was known. */
export function handleRevocationRequest(ctx: OAuthContext, request: Request, origin: RequestOrigin = {}): Promise<Response> {
  return guarded(async () => {
    const form = await readForm(request);
    const token = form.get("token");
    if (!token) throw new OAuthError("invalid_request", "token is required");
    await revokeToken(ctx, { token, clientId: form.get("client_id"), sourceIp: originOf(request, origin) });
    return new Response(null, { status: 200, headers: { "cache-control": "no-store", ...CORS } });
  }, ctx);
}
