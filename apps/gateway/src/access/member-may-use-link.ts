import type { MetadataQueryable } from "../links/link-store.js";

/**
 * The rule API keys and OAuth tokens follow (their lookups join the same tables): owners and admins
 * use every link of their team, members the links they were given, viewers none; the link must be
 * active. Asked fresh on every Playground call (no cache): the dashboard's word is not taken for it.
 */
const ACCESS_QUERY = `SELECT l.status::text AS status,
    (m.role IN ('owner', 'admin')
      OR (m.role = 'member' AND EXISTS (SELECT 1 FROM link_access a WHERE a.link_id = l.id AND a.user_id = m.user_id))) AS allowed
  FROM links l
  LEFT JOIN memberships m ON m.team_id = l.team_id AND m.user_id = $2
  WHERE l.id = $1`;

export type LinkAccess = "allowed" | "no_link" | "not_a_member_with_access" | "link_disabled";

export async function memberMayUseLink(metadata: MetadataQueryable, linkId: string, userId: string): Promise<LinkAccess> {
  const { rows } = await metadata.query(ACCESS_QUERY, [linkId, userId]);
  const row = rows[0] as { status: string; allowed: boolean | null } | undefined;
  if (!row) return "no_link";
  if (row.allowed !== true) return "not_a_member_with_access";
  if (row.status !== "active") return "link_disabled";
  return "allowed";
}
