import { parseScope, describeScope } from "@portcullis/policy";
import {
  SCOPE_DESCRIPTIONS,
  addedScopes,
  authorizationRequestToParams,
  describeClientOrigin,
  isLocalhostOnly,
  loadLinkAccess,
  previousGrantScopes,
  unionScopes,
  type AuthorizationRequest,
  type OAuthContext,
} from "@portcullis/oauth";
import type { OAuthClient } from "@portcullis/db/client";
import type { ConsentView } from "./consent";

/**
 * What the consent page shows. A member without access to the link learns nothing about it (not its
 * name, team or scope): the page then looks the same for a link that does not exist.
 */
export async function buildConsentView(
  ctx: OAuthContext,
  input: { request: AuthorizationRequest; client: OAuthClient; userId: string },
): Promise<{ view: ConsentView; allowed: boolean }> {
  const access = await loadLinkAccess(ctx.prisma, input.userId, input.request.linkId);
  // Step-up: what this member already granted this client here, and what approving would add.
  const previous = access.allowed ? await previousGrantScopes(ctx, input.client.id, input.userId, input.request.linkId) : [];
  const added = addedScopes(previous, unionScopes(previous, input.request.scopes));
  let scopeLines: string[] = [];
  if (access.allowed) {
    const parsed = parseScope(access.link.scope);
    scopeLines = parsed.ok
      ? describeScope(parsed.scope).split("\n").filter(Boolean)
      : ["The link's scope document is invalid; the gateway refuses every query until it is fixed."];
  }
  return {
    allowed: access.allowed,
    view: {
      clientName: input.client.name,
      origin: describeClientOrigin(input.client),
      clientUri: input.client.clientUri,
      redirectHost: redirectLabel(input.request.redirectUri),
      redirectUriHost: redirectHostOf(input.request.redirectUri),
      // MCP security considerations: a client whose every redirect goes to this computer can be
      // impersonated by any local program; say so before the member approves.
      localhostOnly: isLocalhostOnly(input.client.redirectUris),
      scopes: {
        previous: previous.map((scope) => ({ scope, description: SCOPE_DESCRIPTIONS[scope] })),
        added: added.map((scope) => ({ scope, description: SCOPE_DESCRIPTIONS[scope] })),
      },
      link: access.allowed ? { name: access.link.name, teamName: access.link.teamName, connectionName: access.link.connectionName } : null,
      scopeLines,
      hiddenFields: [...authorizationRequestToParams(input.request).entries()],
    },
  };
}

function redirectLabel(uri: string): string {
  const url = new URL(uri);
  if (url.protocol === "http:" || url.protocol === "https:") return url.hostname === "127.0.0.1" || url.hostname === "localhost" || url.hostname === "[::1]" ? "an application on this computer" : url.host;
  return `the ${url.protocol.replace(/:$/, "")} application on this computer`;
}

/** The redirect URI's host as is (or its scheme for private-use schemes): shown verbatim, never a label. */
function redirectHostOf(uri: string): string {
  const url = new URL(uri);
  return url.protocol === "http:" || url.protocol === "https:" ? url.host : `${url.protocol}//${url.host}`;
}
