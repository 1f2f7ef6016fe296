import http from "node:http";
import https from "node:https";
import { isIP } from "node:net";
import { z } from "zod";
import { checkApplicationType, checkRedirectUri } from "./redirect-uri.js";
import { AddressRefusedError, guardedLookup, isPublicAddress } from "./ssrf.js";

/**
 * Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document, preferred by MCP
 * 2025-11-25): the `client_id` is an https URL and the JSON at that URL describes the client. The
 * dashboard fetches a URL chosen by whoever starts an authorization request, so the fetch is hedged
 * on every side: https only, public addresses only (checked after DNS, connected to the checked
 * address), no redirects, a small body and a short deadline.
 */
export interface FetchPolicy {
  /** Production: true. Tests serve documents over plain http from 127.0.0.1 and turn it off. */
  requireHttps: boolean;
  /** Production: `isPublicAddress`. Tests that need a local server inject a permissive check. */
  isAddressAllowed: (address: string) => boolean;
  /** The draft suggests documents stay under 5 KB; anything bigger is not a client description. */
  maxBytes: number;
  /** Whole fetch, connection to last byte: a slow server must not hold an authorization request. */
  timeoutMs: number;
}

export const DEFAULT_FETCH_POLICY: Readonly<FetchPolicy> = Object.freeze({
  requireHttps: true,
  isAddressAllowed: isPublicAddress,
  maxBytes: 5 * 1024,
  timeoutMs: 5_000,
});

export type ClientIdUrlProblem = "not_a_url" | "not_https" | "no_path" | "has_fragment" | "has_credentials" | "dot_segment" | "too_long";

/** Whether a client_id should be treated as a metadata-document URL at all (vs. a registered id). */
export function looksLikeUrlClientId(clientId: string): boolean {
  return /^https?:\/\//i.test(clientId);
}

export function checkClientIdUrl(value: string, policy: Pick<FetchPolicy, "requireHttps"> = DEFAULT_FETCH_POLICY): ClientIdUrlProblem | null {
  if (value.length > 2048) return "too_long";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "not_a_url";
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && !policy.requireHttps)) return "not_https";
  if (value.includes("#")) return "has_fragment";
  if (url.username || url.password) return "has_credentials";
  // The draft forbids "." and ".." segments: they make one document reachable under many client ids.
  if (/\/\.{1,2}(\/|$|\?)/.test(value.replace(/^https?:\/\/[^/]+/i, ""))) return "dot_segment";
  if (url.pathname === "/" || url.pathname === "") return "no_path";
  return null;
}

const httpsUrl = z.string().max(2000).refine((value) => {
  try {
    return new URL(value).protocol === "https:";
  } catch {
    return false;
  }
}, "must be an https URL");

export const clientMetadataDocumentSchema = z
  .object({
    client_id: z.string(),
    // Required by MCP 2026-07-28 (client_id, client_name, redirect_uris): the consent page names it.
    client_name: z.string({ error: "client_name is required" }).trim().min(1, "client_name is required").max(200),
    application_type: z.enum(["native", "web"]).optional(),
    client_uri: httpsUrl.optional(),
    logo_uri: httpsUrl.optional(),
    redirect_uris: z
      .array(z.string())
      .min(1, "redirect_uris must list at least one URI")
      .max(20, "at most 20 redirect_uris")
      .superRefine((uris, ctx) => {
        for (const uri of uris) {
          const problem = checkRedirectUri(uri);
          if (problem) ctx.addIssue({ code: "custom", message: `redirect URI ${JSON.stringify(uri.slice(0, 200))} is not allowed (${problem})` });
        }
      }),
    grant_types: z
      .array(z.string())
      .optional()
      .refine((types) => !types || (types.includes("authorization_code") && types.every((t) => t === "authorization_code" || t === "refresh_token")), {
        message: "grant_types may only be authorization_code and refresh_token, and must include authorization_code",
      }),
    response_types: z
      .array(z.string())
      .optional()
      .refine((types) => !types || (types.length > 0 && types.every((t) => t === "code")), { message: "response_types may only be code" }),
    // We serve public clients only. A metadata document cannot carry a shared secret (the draft
    // forbids client_secret_* methods), and private_key_jwt is not implemented here.
    token_endpoint_auth_method: z.literal("none", { error: "token_endpoint_auth_method must be none" }).optional(),
    scope: z.string().max(1000).optional(),
    software_id: z.string().max(200).optional(),
    software_version: z.string().max(100).optional(),
  })
  .passthrough();

export type ClientMetadataDocument = z.infer<typeof clientMetadataDocumentSchema>;

export class ClientMetadataFetchError extends Error {
  constructor(
    readonly reason: "invalid_url" | "address_refused" | "redirect" | "http_status" | "too_large" | "timeout" | "network" | "not_json" | "invalid_document",
    message: string,
  ) {
    super(message);
    this.name = "ClientMetadataFetchError";
  }
}

export interface FetchedClientMetadata {
  document: ClientMetadataDocument;
  /** From Cache-Control max-age, clamped by the caller; undefined when the server said nothing. */
  maxAgeSeconds: number | undefined;
}

/** Validates a parsed document against the URL it came from. */
export function validateClientMetadataDocument(url: string, value: unknown): ClientMetadataDocument {
  const parsed = clientMetadataDocumentSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join(".") || "document"}: ${issue.message}`).slice(0, 5);
    throw new ClientMetadataFetchError("invalid_document", `the client metadata document is invalid: ${problems.join("; ")}`);
  }
  // The document must name itself: otherwise one client could present another's metadata as its own.
  if (parsed.data.client_id !== url) {
    throw new ClientMetadataFetchError("invalid_document", "the client metadata document's client_id does not equal its URL");
  }
  if ("client_secret" in parsed.data || "client_secret_expires_at" in parsed.data) {
    throw new ClientMetadataFetchError("invalid_document", "a client metadata document must not contain a client secret");
  }
  const application = checkApplicationType(parsed.data.application_type, parsed.data.redirect_uris);
  if (application.problem) throw new ClientMetadataFetchError("invalid_document", `the client metadata document is invalid: ${application.problem}`);
  return parsed.data;
}

/** Fetches and validates a Client ID Metadata Document under `policy`. */
export async function fetchClientMetadataDocument(url: string, policy: FetchPolicy = DEFAULT_FETCH_POLICY): Promise<FetchedClientMetadata> {
  const problem = checkClientIdUrl(url, policy);
  if (problem) throw new ClientMetadataFetchError("invalid_url", `client_id is not a valid metadata document URL (${problem})`);
  const target = new URL(url);
  const hostname = target.hostname.replace(/^\[|\]$/g, "");
  // An IP literal is connected to without a lookup, so it is checked here.
  if (isIP(hostname) && !policy.isAddressAllowed(hostname)) {
    throw new ClientMetadataFetchError("address_refused", `${hostname} is not a public address`);
  }
  const { status, headers, body } = await requestWithLimits(target, policy);
  if (status >= 300 && status < 400) {
    // Following a redirect would let a public URL hand us a private one; the draft lets us refuse.
    throw new ClientMetadataFetchError("redirect", "the client metadata document URL redirects; redirects are not followed");
  }
  if (status !== 200) throw new ClientMetadataFetchError("http_status", `fetching the client metadata document returned HTTP ${status}`);
  let json: unknown;
  try {
    json = JSON.parse(body.toString("utf8"));
  } catch {
    throw new ClientMetadataFetchError("not_json", "the client metadata document is not JSON");
  }
  const document = validateClientMetadataDocument(url, json);
  return { document, maxAgeSeconds: parseMaxAge(headers["cache-control"]) };
}

/** Cache-Control as the revision asks (SHOULD respect HTTP cache headers): no-store/no-cache → 0. */
export function parseMaxAge(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header.join(",") : header;
  if (!value) return undefined;
  if (/\bno-store\b|\bno-cache\b/i.test(value)) return 0;
  const match = /\bmax-age=(\d+)/i.exec(value);
  return match ? Number(match[1]) : undefined;
}

/**
 * One GET under `policy` (SSRF-guarded lookup, no redirects followed, size and time bounds), for any
 * document a stranger or an admin names: metadata documents here, identity providers' JWKS in jwks.ts.
 * Errors are ClientMetadataFetchError whatever the document (the reasons are the same).
 */
export function requestWithLimits(target: URL, policy: FetchPolicy): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const transport = target.protocol === "https:" ? https : http;
    let settled = false;
    const fail = (error: ClientMetadataFetchError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      request.destroy();
      reject(error);
    };
    const request = transport.request(
      target,
      {
        method: "GET",
        headers: { accept: "application/json", "user-agent": "Portcullis-OAuth/1 (client metadata fetcher)" },
        lookup: guardedLookup(policy.isAddressAllowed) as unknown as typeof import("node:dns").lookup,
        // No keep-alive agent: each fetch is rare, and a pooled socket would skip the address check.
        agent: false,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const declared = Number(response.headers["content-length"] ?? "NaN");
        if (Number.isFinite(declared) && declared > policy.maxBytes) {
          return fail(new ClientMetadataFetchError("too_large", `the client metadata document is larger than ${policy.maxBytes} bytes`));
        }
        if (status >= 300) {
          settled = true;
          clearTimeout(timer);
          response.resume();
          request.destroy();
          return resolve({ status, headers: response.headers, body: Buffer.alloc(0) });
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > policy.maxBytes) {
            fail(new ClientMetadataFetchError("too_large", `the client metadata document is larger than ${policy.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on("end", () => {
          if (settled) return;
          settled = true;
          clearTimeout(timer);
          resolve({ status, headers: response.headers, body: Buffer.concat(chunks) });
        });
        response.on("error", () => fail(new ClientMetadataFetchError("network", "the connection failed while reading the client metadata document")));
      },
    );
    const timer = setTimeout(
      () => fail(new ClientMetadataFetchError("timeout", `the client metadata document did not arrive within ${policy.timeoutMs} ms`)),
      policy.timeoutMs,
    );
    request.on("error", (error) => {
      if (error instanceof AddressRefusedError || (error as { cause?: unknown }).cause instanceof AddressRefusedError) {
        return fail(new ClientMetadataFetchError("address_refused", error.message));
      }
      fail(new ClientMetadataFetchError("network", `could not fetch the client metadata document: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
    });
    request.end();
  });
}
