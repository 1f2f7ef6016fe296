import type { CatalogCache } from "@portcullis/policy";
import type { Authenticator } from "../auth/authenticate.js";
import type { DescriptionStore } from "../execution/descriptions.js";
import type { LinkStore } from "../links/link-store.js";
import type { AccessChange } from "./access-changes.js";

export interface AccessCaches {
  authenticator: Authenticator;
  links: LinkStore;
  catalogs: CatalogCache;
  descriptions: DescriptionStore;
  clearAll(): void;
}

/** Drops what one committed change may have made stale; a change without the ids it needs clears all. */
export function applyAccessChange(change: AccessChange, caches: AccessCaches): void {
  const { authenticator, links } = caches;
  switch (change.table) {
    case "memberships":
    case "teams":
      // A member removed or demoted, a team deleted: every credential of the team is looked up again.
      if (!change.team) return caches.clearAll();
      authenticator.invalidate({ teamId: change.team });
      if (change.table === "teams") links.invalidateTeam(change.team);
      return;
    case "link_access":
      if (!change.link) return caches.clearAll();
      authenticator.invalidate({ linkId: change.link });
      return;
    case "link_databases":
    case "link_tools":
      // A link's further databases or its curated tools changed (issue 17): the link is loaded again.
      if (!change.link) return caches.clearAll();
      links.invalidateLink(change.link);
      return;
    case "connection_ssh_hops":
    case "connection_replicas":
      // What reaches the database changed (issue 17): as an edit of the connection row itself.
      if (!change.connection) return caches.clearAll();
      links.invalidateConnection(change.connection);
      caches.catalogs.invalidate(change.connection);
      caches.descriptions.invalidate(change.connection);
      return;
    case "links":
      if (!change.id) return caches.clearAll();
      links.invalidateLink(change.id);
      authenticator.invalidate({ linkId: change.id });
      return;
    case "connections":
      if (!change.id) return caches.clearAll();
      // Pools are not closed here: the reloaded row yields a new pool when what reaches the database
      // changed (its fingerprint), and idle pools are swept.
      links.invalidateConnection(change.id);
      caches.catalogs.invalidate(change.id);
      caches.descriptions.invalidate(change.id);
      return;
    case "api_keys":
      if (!change.id) return caches.clearAll();
      authenticator.invalidate({ apiKeyId: change.id });
      return;
    case "oauth_grants":
      if (!change.id) return caches.clearAll();
      authenticator.invalidate({ grantId: change.id });
      return;
    case "oauth_tokens":
      if (!change.grant) return caches.clearAll();
      authenticator.invalidate({ grantId: change.grant });
      return;
    case "link_member_attributes":
      // Row filters bind these: the member's next call must see the new values (issue 14).
      if (!change.link || !change.user) return caches.clearAll();
      authenticator.invalidateMember({ linkId: change.link, userId: change.user });
      return;
    case "access_grants":
      // Granted, refused, revoked or expired: the member's next call reads their grants again (issue 15).
      if (!change.link || !change.user) return caches.clearAll();
      links.grants.invalidate({ linkId: change.link, userId: change.user });
      return;
  }
}
