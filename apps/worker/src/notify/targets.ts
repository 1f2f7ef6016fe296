export interface Target {
  channel: "webhook" | "email";
  target: string;
}

type Q = (text: string, values?: unknown[]) => Promise<{ rows: Record<string, unknown>[] }>;

/**
 * Where a webhook delivery is recorded as going: the origin only. The path of a Slack incoming webhook
 * (and of many others) is its credential, and the delivery log is shown on the dashboard.
 */
export function webhookTarget(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === "/" && !u.search ? u.origin : `${u.origin}/…`;
  } catch {
    return "invalid webhook URL";
  }
}

/**
 * Who hears of an event. Approvers (owners and admins of the team, and members listed as the link's
 * approvers, never viewers) on a new request; the requester on a decision (unless they decided it
 * themselves, as a confirmation is). The requester is never told of their own request. The team's
 * webhook, when set, hears everything. Every query is matched on team: a subject of another team
 * yields nobody.
 */
export async function notificationTargets(q: Q, row: { teamId: string; event: string; subjectId: string }): Promise<Target[]> {
  const settings = (
    await q(`SELECT webhook_url, email_approvers FROM team_notification_settings WHERE team_id = $1::uuid`, [row.teamId])
  ).rows[0] as { webhook_url: string | null; email_approvers: boolean } | undefined;
  const table = row.event.startsWith("write_request.") ? "write_requests" : row.event.startsWith("access_grant.") ? "access_grants" : null;
  if (!table) return [];
  const subject = (
    await q(
      `SELECT s.link_id::text AS link_id, s.user_id::text AS user_id, s.decided_by::text AS decided_by${table === "write_requests" ? ", s.kind::text AS kind" : ", NULL AS kind"}
         FROM ${table} s WHERE s.id = $1::uuid AND s.team_id = $2::uuid`,
      [row.subjectId, row.teamId],
    )
  ).rows[0] as { link_id: string; user_id: string | null; decided_by: string | null; kind: string | null } | undefined;
  if (!subject) return [];

  const out: Target[] = [];
  const emailApprovers = settings?.email_approvers ?? true;
  const asksApprovers = (row.event === "write_request.created" && subject.kind === "approval") || row.event === "access_grant.requested";
  // A confirmation is the requester's to give (from their client or the dashboard): they are told.
  const tellsRequester =
    (row.event === "write_request.created" && subject.kind === "confirm") ||
    ((row.event === "write_request.decided" || row.event === "access_grant.decided" || row.event === "write_request.expired") && subject.decided_by !== subject.user_id);
  if (asksApprovers && emailApprovers) {
    const { rows } = await q(
      `SELECT DISTINCT lower(u.email) AS email
         FROM memberships m JOIN users u ON u.id = m.user_id
        WHERE m.team_id = $1::uuid
          AND (m.role IN ('owner', 'admin')
               OR (m.role = 'member' AND EXISTS (SELECT 1 FROM link_approvers a JOIN links l ON l.id = a.link_id
                                                  WHERE a.link_id = $2::uuid AND l.team_id = $1::uuid AND a.user_id = m.user_id)))
          AND m.user_id IS DISTINCT FROM $3::uuid
        ORDER BY 1`,
      [row.teamId, subject.link_id, subject.user_id],
    );
    for (const r of rows) out.push({ channel: "email", target: String(r.email) });
  }
  if (tellsRequester && subject.user_id) {
    // Still a member: someone who left the team hears nothing more of it.
    const { rows } = await q(
      `SELECT lower(u.email) AS email FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.team_id = $1::uuid AND m.user_id = $2::uuid`,
      [row.teamId, subject.user_id],
    );
    if (rows[0]) out.push({ channel: "email", target: String(rows[0].email) });
  }
  if (settings?.webhook_url) out.push({ channel: "webhook", target: webhookTarget(settings.webhook_url) });
  return out;
}
