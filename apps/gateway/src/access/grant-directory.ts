import type { AccessLevel } from "@portcullis/policy/scope";
import type { MetadataQueryable } from "../links/link-store.js";
import { MemberLinkCache } from "./member-link-cache.js";

/** A granted, unexpired, unrevoked elevation of one member on one link (issue 15). */
export interface ActiveGrant {
  id: string;
  /** Canonical "schema.table". */
  tableKey: string;
  access: Exclude<AccessLevel, "none">;
  /** Epoch milliseconds: the grant stops applying at exactly this instant. */
  expiresAt: number;
  /** Which of the link's databases the table is in (issue 17); null: the link's first. */
  databaseName?: string | null;
  /**
   * The connection that database was when the grant was asked for (attack finding 2): it applies only to
   * a record of this connection; null (a row bound to nothing) applies nowhere.
   */
  connectionId?: string | null;
}

// Grants whose window has not closed as of the query; the caller re-checks expires_at on every call.
const ACTIVE_QUERY = `SELECT id::text, table_key, access, expires_at, database_name, connection_id::text
  FROM access_grants
  WHERE link_id = $1::uuid AND user_id = $2::uuid AND status = 'granted' AND starts_at <= now() AND expires_at > now()
  ORDER BY id`;

const NONE: readonly ActiveGrant[] = Object.freeze([]);

/**
 * Each member's active grants per link, cached in-process. A grant, refusal or revoke changes an
 * access_grants row, whose trigger notifies the access channel on commit; the listener drops the
 * member's entry here at once (every gateway within a second). The TTL is only a backstop for a missed
 * message, and expiry needs no message: the caller filters by `expiresAt` on every call.
 */
export class GrantDirectory {
  private readonly entries: MemberLinkCache<readonly ActiveGrant[]>;

  constructor(metadata: MetadataQueryable, ttlMs: number) {
    this.entries = new MemberLinkCache(ttlMs, async (linkId, userId) => {
      const { rows } = await metadata.query(ACTIVE_QUERY, [linkId, userId]);
      return rows.length === 0 ? NONE : Object.freeze(rows.map(toGrant).filter((g): g is ActiveGrant => g !== null));
    });
  }

  /** Synchronous on a cache hit (the hot path pays a Map lookup); a promise on a miss. */
  get(linkId: string, userId: string): readonly ActiveGrant[] | Promise<readonly ActiveGrant[]> {
    return this.entries.get(linkId, userId);
  }

  /** Drops what a change to one grant row (or a member, link or team) may have made stale. */
  invalidate(change: { linkId?: string | null; userId?: string | null }): void {
    this.entries.invalidate(change);
  }

  clear(): void {
    this.entries.clear();
  }
}

function toGrant(row: Record<string, unknown>): ActiveGrant | null {
  const access = row.access;
  const expiresAt = row.expires_at instanceof Date ? row.expires_at.getTime() : Date.parse(String(row.expires_at));
  // A row the schema's CHECKs should have refused is not applied (never an elevation we cannot read).
  if ((access !== "read" && access !== "write" && access !== "admin") || !Number.isFinite(expiresAt) || typeof row.table_key !== "string") return null;
  if (row.database_name != null && typeof row.database_name !== "string") return null;
  const connectionId = typeof row.connection_id === "string" ? row.connection_id : null;
  return { id: String(row.id), tableKey: row.table_key, access, expiresAt, databaseName: (row.database_name as string | null | undefined) ?? null, connectionId };
}
