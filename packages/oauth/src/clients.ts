import { randomToken } from "@portcullis/db/keys";
import type { OAuthClient } from "@portcullis/db/client";
import { z } from "zod";
import {
  ClientMetadataFetchError,
  DEFAULT_FETCH_POLICY,
  fetchClientMetadataDocument,
  looksLikeUrlClientId,
  type ClientMetadataDocument,
} from "./client-metadata.js";
import { nowOf, type OAuthContext } from "./context.js";
import { OAuthError } from "./errors.js";
import { checkApplicationType, checkRedirectUri } from "./redirect-uri.js";

/**
 * How long a fetched metadata document is trusted: its Cache-Control max-age up to a day (a changed
 * redirect URI must not wait longer), an hour when it says nothing, and not at all for no-store /
 * no-cache / max-age=0 (then every authorization request fetches it again).
 */
export const CIMD_CACHE_SECONDS = { default: 3600, min: 0, max: 24 * 3600 } as const;
/** Registered client ids carry a prefix so they can never be mistaken for a metadata-document URL. */
export const REGISTERED_CLIENT_PREFIX = "pcc_";

interface StoredMetadata {
  document?: Record<string, unknown>;
  cacheSeconds?: number;
}

/**
 * The client behind a `client_id`. URL ids are metadata documents: served from oauth_clients while
 * fresh, fetched (under the SSRF-safe policy) and stored otherwise. Other ids must have been
 * registered. Every failure is `invalid_client` with a message for the client's developer.
 */
export async function resolveClient(ctx: OAuthContext, clientId: string, options: { refresh?: boolean } = {}): Promise<OAuthClient> {
  if (!clientId || clientId.length > 2048) throw new OAuthError("invalid_client", "client_id is missing or too long");
  const stored = await ctx.prisma.oAuthClient.findUnique({ where: { clientId } });
  if (!looksLikeUrlClientId(clientId)) {
    if (!stored || stored.kind !== "dynamic_registration") throw new OAuthError("invalid_client", "unknown client_id");
    return stored;
  }
  if (stored && stored.kind === "metadata_document" && !options.refresh && isFresh(ctx, stored)) return stored;
  let fetched;
  try {
    fetched = await fetchClientMetadataDocument(clientId, ctx.fetchPolicy ?? DEFAULT_FETCH_POLICY);
  } catch (error) {
    if (error instanceof ClientMetadataFetchError) throw new OAuthError("invalid_client", error.message);
    throw error;
  }
  return saveMetadataDocument(ctx, clientId, fetched.document, fetched.maxAgeSeconds);
}

function isFresh(ctx: OAuthContext, client: OAuthClient): boolean {
  if (!client.fetchedAt) return false;
  const seconds = (client.metadata as StoredMetadata | null)?.cacheSeconds ?? CIMD_CACHE_SECONDS.default;
  if (seconds <= 0) return false;
  return client.fetchedAt.getTime() + seconds * 1000 > nowOf(ctx).getTime();
}

async function saveMetadataDocument(ctx: OAuthContext, clientId: string, document: ClientMetadataDocument, maxAge: number | undefined) {
  const cacheSeconds = Math.min(CIMD_CACHE_SECONDS.max, Math.max(CIMD_CACHE_SECONDS.min, maxAge ?? CIMD_CACHE_SECONDS.default));
  const data = {
    kind: "metadata_document" as const,
    name: document.client_name,
    clientUri: document.client_uri ?? null,
    logoUri: document.logo_uri ?? null,
    redirectUris: document.redirect_uris,
    metadata: { document, cacheSeconds } as object,
    fetchedAt: nowOf(ctx),
  };
  try {
    return await ctx.prisma.oAuthClient.upsert({ where: { clientId }, create: { clientId, ...data }, update: data });
  } catch (error) {
    // Two authorization requests for a new client at once: the other insert won; use it.
    if ((error as { code?: string }).code === "P2002") return ctx.prisma.oAuthClient.findUniqueOrThrow({ where: { clientId } });
    throw error;
  }
}

/** RFC 7591 request body, reduced to what a public MCP client may ask of us. */
const registrationSchema = z
  .object({
    redirect_uris: z.array(z.string()).min(1).max(20),
    client_name: z.string().trim().min(1).max(200).optional(),
    client_uri: z.string().url().max(2000).optional(),
    logo_uri: z.string().url().max(2000).optional(),
    grant_types: z.array(z.string()).max(10).optional(),
    response_types: z.array(z.string()).max(10).optional(),
    token_endpoint_auth_method: z.string().max(100).optional(),
    scope: z.string().max(1000).optional(),
    software_id: z.string().max(200).optional(),
    software_version: z.string().max(100).optional(),
    application_type: z.enum(["native", "web"]).optional(),
  })
  .passthrough();

/**
 * Dynamic client registration (RFC 7591) for clients that predate metadata documents — deprecated by
 * MCP 2026-07-28 in favour of Client ID Metadata Documents, kept for backwards compatibility. Registration is
 * open (anyone may register, as MCP expects), so it grants nothing by itself: every authorization
 * still needs a signed-in member's consent. Only public clients are registered — whatever
 * authentication method is asked for, `none` is what is registered and returned (RFC 7591 §3.2.1 lets
 * the server replace requested values), since a secret stored on a developer's machine protects
 * nothing that PKCE does not.
 */
export async function registerClient(ctx: OAuthContext, body: unknown) {
  const parsed = registrationSchema.safeParse(body);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const field = first?.path.join(".") ?? "body";
    const code = field.startsWith("redirect_uris") ? "invalid_redirect_uri" : "invalid_client_metadata";
    throw new OAuthError(code, `${field}: ${first?.message ?? "invalid"}`);
  }
  const input = parsed.data;
  for (const uri of input.redirect_uris) {
    const problem = checkRedirectUri(uri);
    if (problem) throw new OAuthError("invalid_redirect_uri", `redirect URI ${JSON.stringify(uri.slice(0, 200))} is not allowed (${problem})`);
  }
  const application = checkApplicationType(input.application_type, input.redirect_uris);
  if (application.problem) throw new OAuthError("invalid_redirect_uri", application.problem);
  const grantTypes = input.grant_types ?? ["authorization_code", "refresh_token"];
  if (!grantTypes.includes("authorization_code") || grantTypes.some((t) => t !== "authorization_code" && t !== "refresh_token")) {
    throw new OAuthError("invalid_client_metadata", "grant_types may only be authorization_code and refresh_token");
  }
  if (input.response_types && input.response_types.some((t) => t !== "code")) {
    throw new OAuthError("invalid_client_metadata", "response_types may only be code");
  }
  const clientId = `${REGISTERED_CLIENT_PREFIX}${randomToken(18)}`;
  const name = input.client_name ?? "Unnamed MCP client";
  const registered = {
    client_id: clientId,
    client_id_issued_at: Math.floor(nowOf(ctx).getTime() / 1000),
    client_name: name,
    redirect_uris: input.redirect_uris,
    grant_types: grantTypes,
    response_types: ["code"],
    token_endpoint_auth_method: "none",
    application_type: application.type,
    ...(input.client_uri ? { client_uri: input.client_uri } : {}),
    ...(input.logo_uri ? { logo_uri: input.logo_uri } : {}),
    ...(input.scope ? { scope: input.scope } : {}),
    ...(input.software_id ? { software_id: input.software_id } : {}),
    ...(input.software_version ? { software_version: input.software_version } : {}),
  };
  await ctx.prisma.oAuthClient.create({
    data: {
      clientId,
      kind: "dynamic_registration",
      name,
      clientUri: input.client_uri ?? null,
      logoUri: input.logo_uri ?? null,
      redirectUris: input.redirect_uris,
      metadata: registered,
    },
  });
  return registered;
}

/** Where a client came from, in the words the consent page and the settings page use. */
export function describeClientOrigin(client: Pick<OAuthClient, "kind" | "clientId">): { kind: "metadata_document" | "dynamic_registration"; label: string } {
  if (client.kind === "metadata_document") {
    return { kind: "metadata_document", label: new URL(client.clientId).host };
  }
  return { kind: "dynamic_registration", label: "registered dynamically" };
}
