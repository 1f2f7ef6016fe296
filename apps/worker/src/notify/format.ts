import type { AccessGrantFacts, NotificationFacts, Person, WriteRequestFacts } from "./facts.js";

/** The longest SQL text a Slack message or an e-mail shows (Slack refuses a section over 3,000 characters). */
const SQL_SHOWN = 2500;

const who = (p: Person | null) => (p ? p.name && p.email ? `${p.name} <${p.email}>` : (p.email ?? p.name ?? "someone") : "someone");
const rows = (n: number | null) => (n === null ? "row count unknown" : `${n} row${n === 1 ? "" : "s"}`);
const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters in the dashboard)` : text);

/**
 * The gateway's command label for a statement that runs code (a user function, DO, CALL): its writes
 * cannot be listed, so neither a table nor a row count would be true — the rules of every table applied.
 */
const OPAQUE = /^runs code\b/i;

function commandWords(s: WriteRequestFacts): string {
  if (s.command && OPAQUE.test(s.command)) return s.command;
  const command = (s.command ?? "write").toUpperCase();
  const on = s.table ?? (s.tables.length ? s.tables.join(", ") : null);
  return on ? `${command} on ${on}` : command;
}

/** One line: "Approval needed: DELETE on public.invoice (340 rows)", "Access granted: write on public.invoice for 60 minutes". */
export function headline(facts: NotificationFacts): string {
  const s = facts.subject;
  if (s.type === "write_request") {
    const what = s.command && OPAQUE.test(s.command) ? commandWords(s) : `${commandWords(s)} (${rows(s.affected)})`;
    switch (facts.event) {
      case "write_request.created":
        return `${s.kind === "confirm" ? "Confirmation needed" : "Approval needed"}: ${what}`;
      case "write_request.decided": {
        const outcome = s.decision?.outcome ?? s.status;
        return `${outcome.charAt(0).toUpperCase()}${outcome.slice(1)}: ${what}`;
      }
      case "write_request.expired":
        // Approved but not run in time, or nobody decided: the requester has to ask again either way.
        return s.decision && s.decision.outcome !== "rejected" ? `Expired before it ran: ${what}` : `Expired without a decision: ${what}`;
      default:
        return `${facts.event}: ${what}`;
    }
  }
  const what = `${s.access} on ${s.table} for ${s.minutes} minute${s.minutes === 1 ? "" : "s"}`;
  if (facts.event === "access_grant.requested") return `Access requested: ${what}`;
  if (facts.event === "access_grant.decided") return `Access ${s.decision?.outcome ?? s.status}: ${what}`;
  // A grant that ran its course, or a request nobody decided before it lapsed.
  if (facts.event === "access_grant.expired") return s.startsAt ? `Access ended: ${what}` : `Access request expired without a decision: ${what}`;
  return `${facts.event}: ${what}`;
}

function writeRequestBody(s: WriteRequestFacts, withParams: boolean) {
  return {
    id: s.id,
    kind: s.kind,
    status: s.status,
    mode: s.mode,
    tables: s.tables,
    reason: s.reason,
    sql: s.sql,
    ...(withParams ? { params: s.params } : {}),
    command: s.command,
    table: s.table,
    affected: s.affected,
    requester: { email: s.requester.email, name: s.requester.name },
    clientName: s.clientName,
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    executeBefore: s.executeBefore,
    ...(s.decision ? { decision: s.decision } : {}),
  };
}

function accessGrantBody(s: AccessGrantFacts) {
  return {
    id: s.id,
    status: s.status,
    table: s.table,
    access: s.access,
    minutes: s.minutes,
    reason: s.reason,
    requester: { email: s.requester.email, name: s.requester.name },
    requestedVia: s.requestedVia,
    createdAt: s.createdAt,
    requestExpiresAt: s.requestExpiresAt,
    startsAt: s.startsAt,
    expiresAt: s.expiresAt,
    ...(s.decision ? { decision: s.decision } : {}),
  };
}

/**
 * The Portcullis webhook body. The preview's rows stay in the dashboard (the webhook says how many);
 * the parameters are included because they are part of what the approver approves.
 */
export function portcullisPayload(facts: NotificationFacts, deliveryId: string, createdAt: string) {
  const s = facts.subject;
  return {
    id: deliveryId,
    event: facts.event,
    createdAt,
    team: { id: facts.team.id, slug: facts.team.slug },
    link: { id: facts.link.id, name: facts.link.name },
    // Which of the link's databases (attack finding 2): present when the link has several or the row names one.
    ...(facts.database ? { database: facts.database } : {}),
    ...(s.type === "write_request" ? { request: writeRequestBody(s, true) } : { grant: accessGrantBody(s) }),
    url: facts.url,
  };
}

/** Slack's mrkdwn treats &, < and > as markup: a table name or a reason must not become a link or a mention. */
export function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A code block cannot contain its own fence; a zero-width space keeps the text readable and the block closed. */
const fenced = (sql: string) => "```" + slackEscape(cut(sql, SQL_SHOWN)).replace(/```/g, "`\u200b``") + "```";

/** Slack-compatible `{ text, blocks }`: the facts, the SQL in a code block, a button to the dashboard. Never the parameters. */
export function slackPayload(facts: NotificationFacts) {
  const s = facts.subject;
  const title = headline(facts);
  const on = facts.database ? `  ·  *Database:* ${slackEscape(facts.database)}` : "";
  const lines = [`*Team:* ${slackEscape(facts.team.name)}  ·  *Link:* ${slackEscape(facts.link.name)}${on}`, `*Requested by:* ${slackEscape(who(s.requester))}`];
  lines.push(`*Why:* ${slackEscape(cut(s.reason, 500))}`);
  if (s.type === "write_request") {
    lines.push(`*Affected:* ${rows(s.affected)}  ·  *Rule:* ${s.mode}`);
    if (s.status === "pending") lines.push(`*Expires:* ${s.expiresAt}`);
  } else if (s.status === "pending") lines.push(`*Request expires:* ${s.requestExpiresAt}`);
  if (s.decision) {
    lines.push(`*${s.decision.outcome.charAt(0).toUpperCase()}${s.decision.outcome.slice(1)} by:* ${slackEscape(who(s.decision.by))}`);
    if (s.decision.comment) lines.push(`*Comment:* ${slackEscape(cut(s.decision.comment, 500))}`);
  }
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: title.slice(0, 150) } },
    { type: "section", text: { type: "mrkdwn", text: lines.join("\n") } },
  ];
  if (s.type === "write_request") blocks.push({ type: "section", text: { type: "mrkdwn", text: fenced(s.sql) } });
  const pending = s.status === "pending";
  blocks.push({
    type: "actions",
    elements: [
      {
        type: "button",
        text: { type: "plain_text", text: pending ? "Review and decide" : "Open in Portcullis" },
        url: facts.url,
        ...(pending ? { style: "primary" } : {}),
      },
    ],
  });
  return { text: `${title} — ${facts.link.name}${facts.database ? ` (database ${facts.database})` : ""}`, blocks };
}

/** An e-mail: subject = the headline, a plain-text body with the same facts and the dashboard URL; no parameters. */
export function emailMessage(facts: NotificationFacts): { subject: string; text: string } {
  const s = facts.subject;
  const lines = [headline(facts), "", `Team: ${facts.team.name}`, `Link: ${facts.link.name}`, `Requested by: ${who(s.requester)}`, `Why: ${s.reason}`];
  if (facts.database) lines.splice(4, 0, `Database: ${facts.database}`);
  if (s.type === "write_request") {
    lines.push(`Affected: ${rows(s.affected)}`, `Rule: ${s.mode}`, `Status: ${s.status}`);
    if (s.status === "pending") lines.push(`Expires: ${s.expiresAt}`);
    if (s.status === "expired") lines.push("Nothing ran. To make this change, run the statement again: it asks anew.");
  } else {
    lines.push(`Status: ${s.status}`);
    if (s.status === "pending") lines.push(`Request expires: ${s.requestExpiresAt}`);
    if (s.expiresAt) lines.push(`${s.status === "expired" ? "Access ended" : "Access ends"}: ${s.expiresAt}`);
  }
  if (s.decision) {
    lines.push(`Decision: ${s.decision.outcome} by ${who(s.decision.by)} at ${s.decision.at}`);
    if (s.decision.comment) lines.push(`Comment: ${s.decision.comment}`);
  }
  if (s.type === "write_request") lines.push("", "SQL:", cut(s.sql, SQL_SHOWN));
  lines.push("", s.status === "pending" ? `Review and decide: ${facts.url}` : `Details: ${facts.url}`);
  return { subject: headline(facts), text: lines.join("\n") };
}
