import { z } from "zod";
import { PortcullisError } from "../errors.js";
import { recordConfigChangeSql } from "./audit-sql.js";
import { inTransaction, type OperationsDb, parseInput, type Query, queryOf, uuidSchema } from "./sql-db.js";

/**
 * Who decides a link's write requests and access requests: the team's owners and admins, and the
 * members an admin names as the link's approvers (viewers never: they use no link). A listed approver
 * who left the team or became a viewer stops deciding at once — the list is read at decision time.
 */

export const LINK_APPROVERS_MAX = 100;

const mayApproveInput = z.strictObject({ teamId: uuidSchema, linkId: uuidSchema, userId: uuidSchema });
const listApproversInput = z.strictObject({ teamId: uuidSchema, linkId: uuidSchema });
const setApproversInput = z.strictObject({
  teamId: uuidSchema,
  linkId: uuidSchema,
  userIds: z.array(uuidSchema).max(LINK_APPROVERS_MAX, `at most ${LINK_APPROVERS_MAX} approvers per link`),
  actorUserId: uuidSchema.nullish(),
  via: z.enum(["dashboard", "cli"]).optional(),
  sourceIp: z.string().max(64).nullish(),
});

export interface LinkApproverEntry {
  userId: string;
  email: string;
  name: string | null;
  role: string;
}

/** The decider's standing on a link inside a decision's transaction (membership locked FOR SHARE until it commits). */
export async function approverStanding(q: Query, teamId: string, linkId: string, userId: string): Promise<"team_lead" | "link_approver" | null> {
  const rows = await q<{ role: string; listed: boolean }>(
    `SELECT m.role::text AS role,
       EXISTS (SELECT 1 FROM link_approvers a JOIN links l ON l.id = a.link_id
               WHERE a.link_id = $2::uuid AND l.team_id = $1::uuid AND a.user_id = m.user_id) AS listed
     FROM memberships m
     WHERE m.team_id = $1::uuid AND m.user_id = $3::uuid
       AND EXISTS (SELECT 1 FROM links l WHERE l.id = $2::uuid AND l.team_id = $1::uuid)
     FOR SHARE OF m`,
    [teamId, linkId, userId],
  );
  const member = rows[0];
  if (!member) return null;
  if (member.role === "owner" || member.role === "admin") return "team_lead";
  if (member.role === "member" && member.listed) return "link_approver";
  return null;
}

/** Whether the member may decide the link's requests: owner/admin of the team, or a listed approver still a member (not a viewer). */
export async function mayApprove(db: OperationsDb, input: { teamId: string; linkId: string; userId: string }): Promise<boolean> {
  const { teamId, linkId, userId } = parseInput(mayApproveInput, input);
  return (await approverStanding(queryOf(db), teamId, linkId, userId)) !== null;
}

async function approversOf(q: Query, teamId: string, linkId: string): Promise<LinkApproverEntry[]> {
  return q<LinkApproverEntry>(
    `SELECT a.user_id::text AS "userId", u.email, u.name, COALESCE(m.role::text, 'none') AS role
     FROM link_approvers a
     JOIN links l ON l.id = a.link_id AND l.team_id = $1::uuid
     JOIN users u ON u.id = a.user_id
     LEFT JOIN memberships m ON m.team_id = $1::uuid AND m.user_id = a.user_id
     WHERE a.link_id = $2::uuid
     ORDER BY u.email`,
    [teamId, linkId],
  );
}

async function requireLink(q: Query, teamId: string, linkId: string, lock = false): Promise<{ id: string; name: string }> {
  const rows = await q<{ id: string; name: string }>(
    `SELECT id::text AS id, name FROM links WHERE id = $1::uuid AND team_id = $2::uuid${lock ? " FOR UPDATE" : ""}`,
    [linkId, teamId],
  );
  if (!rows[0]) throw new PortcullisError("not_found", "link not found");
  return rows[0];
}

/** The link's named approvers (owners and admins approve on every link and are not listed). */
export async function listLinkApprovers(db: OperationsDb, input: { teamId: string; linkId: string }): Promise<LinkApproverEntry[]> {
  const { teamId, linkId } = parseInput(listApproversInput, input);
  const q = queryOf(db);
  await requireLink(q, teamId, linkId);
  return approversOf(q, teamId, linkId);
}

/**
 * Replaces the link's approvers with `userIds` (each a member of the team with role member or above);
 * one audited change. Returns the list after it.
 */
export async function setLinkApprovers(
  db: OperationsDb,
  input: { teamId: string; linkId: string; userIds: string[]; actorUserId?: string | null; via?: "dashboard" | "cli"; sourceIp?: string | null },
): Promise<LinkApproverEntry[]> {
  const { teamId, linkId, userIds, actorUserId, via, sourceIp } = parseInput(setApproversInput, input);
  const wanted = [...new Set(userIds.map((u) => u.toLowerCase()))];
  return inTransaction(db, async (q) => {
    const link = await requireLink(q, teamId, linkId, true);
    const members = await q<{ userId: string; email: string; role: string }>(
      `SELECT m.user_id::text AS "userId", u.email, m.role::text AS role
       FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.team_id = $1::uuid AND m.user_id = ANY($2::uuid[])
       FOR SHARE OF m`,
      [teamId, wanted],
    );
    const byId = new Map(members.map((m) => [m.userId, m]));
    const missing = wanted.filter((id) => !byId.has(id));
    if (missing.length) throw new PortcullisError("not_found", `not a member of this team: ${missing.join(", ")}`);
    const viewers = members.filter((m) => m.role !== "owner" && m.role !== "admin" && m.role !== "member");
    if (viewers.length) throw new PortcullisError("forbidden", `viewers and auditors cannot approve; change their role first: ${viewers.map((v) => v.email).join(", ")}`);
    const before = await approversOf(q, teamId, linkId);
    await q("DELETE FROM link_approvers WHERE link_id = $1::uuid AND NOT (user_id = ANY($2::uuid[]))", [linkId, wanted]);
    if (wanted.length) {
      await q("INSERT INTO link_approvers (link_id, user_id) SELECT $1::uuid, unnest($2::uuid[]) ON CONFLICT DO NOTHING", [linkId, wanted]);
    }
    const after = await approversOf(q, teamId, linkId);
    await recordConfigChangeSql(q, {
      teamId,
      actorUserId: actorUserId ?? null,
      action: "link.approvers.update",
      target: { type: "link", id: link.id, name: link.name },
      before: before.map((a) => a.email),
      after: after.map((a) => a.email),
      sourceIp: sourceIp ?? null,
      ...(via ? { via } : {}),
    });
    return after;
  });
}

/**
 * approvalOptions of the link's CURRENT scope. Mirrors approvalOptionsSchema of @portcullis/policy/scope
 * (db does not depend on policy; apps/cli/test/approvals-cli.int.test.ts compares them): anything that
 * does not parse — an unknown option, a wrong type — reads as the defaults, so self-approval is only
 * ever on when the document says exactly `selfApproval: true`.
 */
export const DEFAULT_APPROVAL_EXPIRY_MINUTES = 60;
export const approvalOptionsSchema = z.strictObject({
  selfApproval: z.boolean().default(false),
  expiresAfterMinutes: z.number().int().min(1).max(10_080).default(DEFAULT_APPROVAL_EXPIRY_MINUTES),
});
export type LinkApprovalOptions = z.output<typeof approvalOptionsSchema>;

export function approvalOptionsOf(scope: unknown): LinkApprovalOptions {
  const raw = typeof scope === "object" && scope !== null && !Array.isArray(scope) ? (scope as Record<string, unknown>).approvalOptions : undefined;
  const parsed = approvalOptionsSchema.safeParse(raw ?? {});
  return parsed.success ? parsed.data : { selfApproval: false, expiresAfterMinutes: DEFAULT_APPROVAL_EXPIRY_MINUTES };
}

/** The link's approval options, read now (locked FOR SHARE so a scope edit waits for the decision). */
export async function linkApprovalOptions(q: Query, teamId: string, linkId: string): Promise<LinkApprovalOptions | null> {
  const rows = await q<{ scope: unknown }>("SELECT scope FROM links WHERE id = $1::uuid AND team_id = $2::uuid FOR SHARE", [linkId, teamId]);
  if (!rows[0]) return null;
  const scope = typeof rows[0].scope === "string" ? safeJson(rows[0].scope) : rows[0].scope;
  return approvalOptionsOf(scope);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
