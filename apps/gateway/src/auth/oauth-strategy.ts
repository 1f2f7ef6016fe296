import { AccessTokenVerifier, type SqlQueryable } from "@portcullis/oauth/verify";
import type { Principal } from "../context.js";
import type { MemberDirectory } from "./member-directory.js";
import type { AuthStrategy } from "./strategy.js";

/**
 * OAuth 2.1 access tokens issued by the dashboard's authorization server (`pca_…`), verified against
 * oauth_tokens/oauth_grants by @portcullis/oauth (token hash → grant, client, link, membership),
 * cached and invalidated like API keys. The token must have been issued for this link (RFC 8707).
 */
export class OAuthTokenStrategy implements AuthStrategy {
  readonly name = "oauth";
  private readonly verifier: AccessTokenVerifier;

  constructor(
    pool: SqlQueryable,
    ttlMs: number,
    private readonly members: MemberDirectory,
  ) {
    this.verifier = new AccessTokenVerifier({ pool }, { ttlMs });
  }

  accepts(token: string): boolean {
    return this.verifier.accepts(token);
  }

  async authenticate(token: string, linkId: string): Promise<Principal | null> {
    const principal = this.principal(await this.verifier.verify(token, linkId.toLowerCase()));
    return principal && this.members.complete(principal);
  }

  peek(token: string, linkId: string): Principal | null {
    return this.members.peekComplete(this.principal(this.verifier.peek(token, linkId.toLowerCase())));
  }

  private principal(verified: Awaited<ReturnType<AccessTokenVerifier["verify"]>>): Principal | null {
    if (!verified) return null;
    return {
      kind: "oauth",
      // The token's OAuth scopes (legacy `mcp` already expanded to the three): a second ceiling under
      // the link's scope document; the call path answers 403 insufficient_scope when it is too low.
      grantedScopes: [...verified.scopes],
      teamId: verified.teamId,
      linkId: verified.linkId,
      userId: verified.userId,
      apiKeyId: null,
      oauthClientId: verified.clientId,
      subject: verified.grantId,
      clientName: verified.clientName,
      email: null,
      attributes: {},
    };
  }

  invalidate(message: { grantId?: string; linkId?: string; teamId?: string }): void {
    if (message.grantId || message.linkId || message.teamId) this.verifier.invalidate({ grantId: message.grantId, linkId: message.linkId, teamId: message.teamId });
  }

  clear(): void {
    this.verifier.clear();
  }
}
