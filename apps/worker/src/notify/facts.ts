import type pg from "pg";

/** A person as notifications name them: the address and name the dashboard shows to the team. */
export interface Person {
  email: string | null;
  name: string | null;
}

export interface Decision {
  outcome: "approved" | "rejected" | "confirmed" | "granted" | "refused";
  by: Person | null;
  at: string;
  comment: string | null;
}

export interface WriteRequestFacts {
  type: "write_request";
  id: string;
  kind: "approval" | "confirm";
  status: string;
  mode: string;
  tables: string[];
  reason: string;
  sql: string;
  /** What will be bound: only the Portcullis webhook format carries them (never Slack or e-mail). */
  params: unknown[];
  command: string | null;
  table: string | null;
  affected: number | null;
  requester: Person & { id: string | null };
  clientName: string | null;
  createdAt: string;
  expiresAt: string;
  executeBefore: string | null;
  decision: Decision | null;
}

export interface AccessGrantFacts {
  type: "access_grant";
  id: string;
  status: string;
  table: string;
  access: string;
  minutes: number;
  reason: string;
  requester: Person & { id: string };
  requestedVia: string;
  createdAt: string;
  requestExpiresAt: string;
  startsAt: string | null;
  expiresAt: string | null;
  decision: Decision | null;
}

export interface NotificationFacts {
  event: string;
  team: { id: string; slug: string; name: string };
  link: { id: string; name: string };
  /**
   * Which of the link's databases (attack finding 2): the row's, or the link's first when it names none
   * and the link has several; null on a single-database link for a row naming none.
   */
  database?: string | null;
  subject: WriteRequestFacts | AccessGrantFacts;
  /** The dashboard page where the lead decides (or reads the outcome). */
  url: string;
}

/** The row's database_name, or the link's first's when the link has further databases (`alias`: the row's table alias). */
const databaseLabel = (alias: string) => `COALESCE(${alias}.database_name, CASE WHEN EXISTS (SELECT 1 FROM link_databases ld WHERE ld.link_id = l.id) THEN l.database_name END) AS database_label`;

const iso = (value: Date | string | null): string | null => (value === null ? null : new Date(value).toISOString());

function decisionOutcome(type: "write_request" | "access_grant", kind: string | null, status: string): Decision["outcome"] {
  if (type === "access_grant") return status === "refused" ? "refused" : "granted";
  if (status === "rejected") return "rejected";
  return kind === "confirm" ? "confirmed" : "approved";
}

/**
 * Everything a notification says about its subject, read now (a delivery retried after a decision
 * tells the current status). Matched on team as well as id: an outbox row never names another
 * team's request.
 */
export async function loadFacts(pool: pg.Pool, input: { teamId: string; event: string; subjectId: string; webPublicUrl: string }): Promise<NotificationFacts | null> {
  const base = input.webPublicUrl.replace(/\/+$/, "");
  if (input.event.startsWith("write_request.")) {
    const { rows } = await pool.query(
      `SELECT w.*, t.slug AS team_slug, t.name AS team_name, l.name AS link_name, ${databaseLabel("w")},
              ru.email AS requester_email, ru.name AS requester_name, du.email AS decider_email, du.name AS decider_name
         FROM write_requests w
         JOIN teams t ON t.id = w.team_id
         JOIN links l ON l.id = w.link_id AND l.team_id = w.team_id
         LEFT JOIN users ru ON ru.id = w.user_id
         LEFT JOIN users du ON du.id = w.decided_by
        WHERE w.id = $1 AND w.team_id = $2`,
      [input.subjectId, input.teamId],
    );
    const r = rows[0];
    if (!r) return null;
    const preview = (r.preview ?? {}) as { command?: unknown; table?: unknown; affected?: unknown };
    return {
      event: input.event,
      team: { id: r.team_id, slug: r.team_slug, name: r.team_name },
      link: { id: r.link_id, name: r.link_name },
      database: r.database_label ?? null,
      url: `${base}/t/${encodeURIComponent(r.team_slug)}/approvals?request=${r.id}`,
      subject: {
        type: "write_request",
        id: r.id,
        kind: r.kind,
        status: r.status,
        mode: r.mode,
        tables: r.tables ?? [],
        reason: r.reason,
        sql: r.sql,
        params: Array.isArray(r.params) ? r.params : [],
        command: typeof preview.command === "string" ? preview.command : null,
        table: typeof preview.table === "string" ? preview.table : (r.tables?.[0] ?? null),
        affected: typeof preview.affected === "number" ? preview.affected : null,
        requester: { id: r.user_id, email: r.requester_email, name: r.requester_name },
        clientName: r.client_name,
        createdAt: iso(r.created_at)!,
        expiresAt: iso(r.expires_at)!,
        executeBefore: iso(r.execute_before),
        decision: r.decided_at
          ? { outcome: decisionOutcome("write_request", r.kind, r.status), by: r.decided_by ? { email: r.decider_email, name: r.decider_name } : null, at: iso(r.decided_at)!, comment: r.decision_comment }
          : null,
      },
    };
  }
  if (input.event.startsWith("access_grant.")) {
    const { rows } = await pool.query(
      `SELECT g.*, t.slug AS team_slug, t.name AS team_name, l.name AS link_name, ${databaseLabel("g")},
              ru.email AS requester_email, ru.name AS requester_name, du.email AS decider_email, du.name AS decider_name
         FROM access_grants g
         JOIN teams t ON t.id = g.team_id
         JOIN links l ON l.id = g.link_id AND l.team_id = g.team_id
         JOIN users ru ON ru.id = g.user_id
         LEFT JOIN users du ON du.id = g.decided_by
        WHERE g.id = $1 AND g.team_id = $2`,
      [input.subjectId, input.teamId],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      event: input.event,
      team: { id: r.team_id, slug: r.team_slug, name: r.team_name },
      link: { id: r.link_id, name: r.link_name },
      database: r.database_label ?? null,
      url: `${base}/t/${encodeURIComponent(r.team_slug)}/approvals?grant=${r.id}`,
      subject: {
        type: "access_grant",
        id: r.id,
        status: r.status,
        table: r.table_key,
        access: r.access,
        minutes: r.minutes,
        reason: r.reason,
        requester: { id: r.user_id, email: r.requester_email, name: r.requester_name },
        requestedVia: r.requested_via,
        createdAt: iso(r.created_at)!,
        requestExpiresAt: iso(r.request_expires_at)!,
        startsAt: iso(r.starts_at),
        expiresAt: iso(r.expires_at),
        decision: r.decided_at
          ? { outcome: decisionOutcome("access_grant", null, r.status), by: r.decided_by ? { email: r.decider_email, name: r.decider_name } : null, at: iso(r.decided_at)!, comment: r.decision_comment }
          : null,
      },
    };
  }
  return null;
}
