import type { Role } from "@portcullis/db/client";

/**
 * The one place that decides what a team role may do in the dashboard.
 *
 * Owners, admins, members and viewers are ranks: an action that needs "member" is open to members
 * and every rank above. The auditor is not a rank between them: it reads and exports the whole
 * team's Activity and changes nothing, so it passes no rank check at all — not even "viewer" — and
 * only the named permissions below that list it. A page, action or route that names a rank is
 * therefore closed to auditors without anyone having to remember them.
 */
export type RankedRole = Exclude<Role, "auditor">;

export const ALL_ROLES = ["owner", "admin", "member", "viewer", "auditor"] as const satisfies readonly Role[];

const RANK: Record<RankedRole, number> = { viewer: 0, member: 1, admin: 2, owner: 3 };

/** Everything a permission-named check may ask; each lists the roles that have it, nobody else. */
const GRANTS = {
  /** Open the team's shell (layout, nav, team switcher); every page still checks its own need. */
  "team:open": ALL_ROLES,
  /** Activity at all: members see their own keys' events only. */
  "activity:read": ALL_ROLES,
  /** Every event of the team, every member's and key's, as owners and admins see it. */
  "activity:read-all": ["owner", "admin", "viewer", "auditor"],
  /** CSV / JSON-lines export of what the caller may read (members: their own). */
  "activity:export": ALL_ROLES,
  /** The audit trail's hash-chain verification (no event content). */
  "activity:verify": ALL_ROLES,
} as const satisfies Record<string, readonly Role[]>;

export type Permission = keyof typeof GRANTS;
/** What a page, action or route needs: a rank (that or higher; never an auditor) or a permission. */
export type Need = RankedRole | Permission;

function isRank(need: Need): need is RankedRole {
  return Object.hasOwn(RANK, need);
}

export function can(role: Role, need: Need): boolean {
  if (isRank(need)) return Object.hasOwn(RANK, role) && RANK[role as RankedRole] >= RANK[need];
  if (!Object.hasOwn(GRANTS, need)) return false;
  return (GRANTS[need] as readonly Role[]).includes(role);
}

/** Who may hold link access, keys and OAuth grants (the gateway's own SQL says the same). */
export function mayUseLinks(role: Role): boolean {
  return role === "owner" || role === "admin" || role === "member";
}

/**
 * Owners manage everyone; admins manage members, viewers and auditors only — they cannot invite,
 * promote, demote or remove an admin or an owner, nor act as one, so nobody hands out (or borrows)
 * power at their own level.
 */
export function mayManageRole(actorRole: Role, role: Role): boolean {
  if (actorRole === "owner") return true;
  return actorRole === "admin" && (role === "member" || role === "viewer" || role === "auditor");
}

/** The roles an actor may hand out, in the order the members page lists them. */
export function assignableRoles(actorRole: Role): Role[] {
  return ALL_ROLES.filter((r) => can(actorRole, "admin") && mayManageRole(actorRole, r));
}

/** Team pages (suffix of /t/<slug>) shown in the nav; an auditor sees only Activity. */
export const TEAM_PAGES = ["", "/links", "/connections", "/activity", "/approvals", "/schema", "/keys", "/settings"] as const;
export type TeamPage = (typeof TEAM_PAGES)[number];

export function visiblePages(role: Role): TeamPage[] {
  if (role === "auditor") return ["/activity"];
  return [...TEAM_PAGES];
}

/** Where a role lands in a team (and is sent when it opens a page it may not see). */
export function landingPage(role: Role): TeamPage {
  return role === "auditor" ? "/activity" : "";
}

export const ROLE_LABELS: Record<Role, string> = {
  owner: "Owner",
  admin: "Admin",
  member: "Member",
  viewer: "Viewer",
  auditor: "Auditor",
};

/** One line per role, for the members page and the CLI's help. */
export const ROLE_DESCRIPTIONS: Record<Role, string> = {
  owner: "everything, including owners, admins and deleting the team",
  admin: "connections, links, keys and members (not owners or admins)",
  member: "uses the links they are granted; sees their own activity",
  viewer: "reads the team's pages and activity; holds no keys",
  auditor: "reads and exports all activity; sees nothing else and changes nothing",
};

export function describeNeed(need: Need): string {
  return isRank(need) ? `the ${ROLE_LABELS[need].toLowerCase()} role or higher` : `the ${need} permission`;
}
