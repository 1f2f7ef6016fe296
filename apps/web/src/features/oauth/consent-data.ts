import { parseScope, describeScope } from "@portcullis/policy";
import {
  authorizationRequestToParams,
  describeClientOrigin,
  loadLinkAccess,
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
