import type { Principal } from "../context.js";
import type { MetadataQueryable } from "../links/link-store.js";
import { MemberLinkCache } from "../access/member-link-cache.js";

/** What a row filter may bind about the caller: their email and the attributes an admin set on this link. */
export interface MemberDetails {
  email: string | null;
  attributes: Readonly<Record<string, string>>;
}

const NONE: MemberDetails = Object.freeze({ email: null, attributes: Object.freeze({}) });

// One round trip: the user's email and their attributes on the link (an empty object when none).
const DETAILS_QUERY = `SELECT u.email,
    coalesce((SELECT json_object_agg(a.name, a.value) FROM link_member_attributes a WHERE a.link_id = $1 AND a.user_id = u.id), '{}'::json) AS attributes
  FROM users u WHERE u.id = $2`;

function freezeDetails(row: { email: string; attributes: Record<string, string> } | undefined): MemberDetails {
  if (!row) return NONE;
  // A plain object without a prototype: an attribute named like an Object.prototype member (constructor)
  // is data, never inherited behaviour.
  const attributes = Object.assign(Object.create(null) as Record<string, string>, row.attributes);
  return Object.freeze({ email: row.email, attributes: Object.freeze(attributes) });
}

/**
 * The member details of (link, user), cached like the keys and grants they are loaded with and dropped
 * by the access channel when an attribute changes (the link_member_attributes trigger), so a change
 * applies within a second. Both authentication strategies put them on the principal.
 */
export class MemberDirectory {
  private readonly entries: MemberLinkCache<MemberDetails>;

  constructor(metadata: MetadataQueryable, ttlMs: number) {
    this.entries = new MemberLinkCache(ttlMs, (linkId, userId) => memberDetailsFresh(metadata, linkId, userId));
  }

  get(linkId: string, userId: string): Promise<MemberDetails> {
    return Promise.resolve(this.entries.get(linkId, userId));
  }

  peek(linkId: string, userId: string): MemberDetails | undefined {
    return this.entries.peek(linkId, userId);
  }

  /**
   * The principal with its member's details; callers without a user (none today) get none. Synchronous
   * on a cache hit (every call but the first per TTL): the hot path pays a Map lookup, no promise.
   */
  complete(principal: Principal): Principal | Promise<Principal> {
    if (!principal.userId) return principal;
    const cached = this.peek(principal.linkId, principal.userId);
    if (cached) return { ...principal, email: cached.email, attributes: cached.attributes };
    return this.get(principal.linkId, principal.userId).then((details) => ({ ...principal, email: details.email, attributes: details.attributes }));
  }

  /** The same from the cache only: null when the details are not cached (never a principal without them). */
  peekComplete(principal: Principal | null): Principal | null {
    if (!principal?.userId) return principal;
    const details = this.peek(principal.linkId, principal.userId);
    return details ? { ...principal, email: details.email, attributes: details.attributes } : null;
  }

  invalidate(message: { linkId?: string; userId?: string }): void {
    this.entries.invalidate(message);
  }

  clear(): void {
    this.entries.clear();
  }
}

/** Details of a caller resolved fresh (the Playground asks on every call, no cache). */
export async function memberDetailsFresh(metadata: MetadataQueryable, linkId: string, userId: string): Promise<MemberDetails> {
  const { rows } = await metadata.query(DETAILS_QUERY, [linkId, userId]);
  return freezeDetails(rows[0] as { email: string; attributes: Record<string, string> } | undefined);
}
