import { randomBytes } from "node:crypto";
import { type IncomingMessage, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createWriteRequest, saveNotificationSettings } from "@portcullis/db/operations";
import { getKeyring } from "@portcullis/db/secrets";
import type pg from "pg";
import { SMTPServer } from "smtp-server";
import { SECRET_KEYS } from "./support.js";

export interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  status: number;
}

/**
 * A webhook receiver on a free loopback port. Each path answers from its own script of statuses (the
 * last one repeats), so one server plays a flaky receiver, a refusing one and a healthy one at once.
 */
export async function startReceiver() {
  const received: Received[] = [];
  const scripts = new Map<string, number[]>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const script = scripts.get(path) ?? [200];
      const status = script.length > 1 ? script.shift()! : script[0]!;
      received.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), status });
      res.writeHead(status, { "Content-Type": "text/plain" }).end(status >= 400 ? `refused with ${status}` : "ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    script: (path: string, statuses: number[]) => scripts.set(path, [...statuses]),
    at: (path: string) => received.filter((r) => r.path === path),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export interface ReceivedMail {
  from: string;
  to: string[];
  subject: string;
  text: string;
}

/** Quoted-printable soft breaks and escapes, and folded header lines, undone: enough to read our own mails. */
function decode(raw: string): { subject: string; text: string } {
  const [head = "", ...rest] = raw.split(/\r?\n\r?\n/);
  const headers = head.replace(/\r?\n[ \t]+/g, " ");
  const subject = /^Subject: (.*)$/im.exec(headers)?.[1] ?? "";
  let body = rest.join("\n\n");
  if (/Content-Transfer-Encoding: quoted-printable/i.test(headers))
    body = body.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_m, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return { subject, text: body };
}

/** A real SMTP server (smtp-server) that keeps what it is sent. */
export async function startSmtpSink() {
  const mails: ReceivedMail[] = [];
  /** Recipients refused with an SMTP code: 550 (no such mailbox, final) or 451 (try later). */
  const refuse = new Map<string, number>();
  /** How often each recipient was refused, so a test can lift a 451 only after it was met. */
  const refused = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ["STARTTLS", "AUTH"],
    logger: false,
    onRcptTo(address, _session, callback) {
      const code = refuse.get(address.address);
      if (code) refused.set(address.address, (refused.get(address.address) ?? 0) + 1);
      if (code) return callback(Object.assign(new Error(code >= 500 ? "no such mailbox" : "try again later"), { responseCode: code }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        const { subject, text } = decode(Buffer.concat(chunks).toString("utf8"));
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : "";
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), subject, text });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const port = (server.server.address() as AddressInfo).port;
  return { url: `smtp://127.0.0.1:${port}`, mails, refuse, refused, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

export interface SeededTeam {
  teamId: string;
  slug: string;
  linkId: string;
  users: Record<"owner" | "admin" | "approver" | "member" | "viewer" | "requester", { id: string; email: string }>;
}

const SCOPE = { access: "read", tables: { invoice: { access: "write", approval: "writes" } } };

/**
 * A team with an owner, an admin, a member named as the link's approver, a plain member, a viewer named
 * as approver (viewers never approve) and the member who asks.
 */
export async function seedTeam(pool: pg.Pool): Promise<SeededTeam> {
  const tag = randomBytes(4).toString("hex");
  const slug = `team-${tag}`;
  const teamId = (await pool.query(`INSERT INTO teams (name, slug) VALUES ($1, $2) RETURNING id`, [`Team ${tag}`, slug])).rows[0].id as string;
  const connectionId = (
    await pool.query(
      `INSERT INTO connections (team_id, name, host, database, username, secret_ciphertext, secret_key_id) VALUES ($1, 'c', 'localhost', 'd', 'u', 'x', 'k') RETURNING id`,
      [teamId],
    )
  ).rows[0].id as string;
  const linkId = (await pool.query(`INSERT INTO links (team_id, connection_id, name, scope) VALUES ($1, $2, 'billing', $3) RETURNING id`, [teamId, connectionId, SCOPE]))
    .rows[0].id as string;
  const roles = { owner: "owner", admin: "admin", approver: "member", member: "member", viewer: "viewer", requester: "member" } as const;
  const users = {} as SeededTeam["users"];
  for (const [who, role] of Object.entries(roles) as [keyof typeof roles, string][]) {
    const email = `${who}-${tag}@example.com`;
    const id = (await pool.query(`INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id`, [email, who])).rows[0].id as string;
    await pool.query(`INSERT INTO memberships (team_id, user_id, role) VALUES ($1, $2, $3)`, [teamId, id, role]);
    users[who] = { id, email };
  }
  for (const who of ["approver", "viewer"] as const) await pool.query(`INSERT INTO link_approvers (link_id, user_id) VALUES ($1, $2)`, [linkId, users[who].id]);
  return { teamId, slug, linkId, users };
}

/** The team's webhook, saved as the dashboard saves it; returns the signing secret (shown once). */
export async function setWebhook(pool: pg.Pool, teamId: string, url: string, format: "portcullis" | "slack", emailApprovers = true): Promise<string> {
  // The receivers are plain http on loopback; D's URL check wants https unless this is set.
  process.env.PORTCULLIS_WEBHOOK_ALLOW_HTTP = "1";
  const { secret } = await saveNotificationSettings(pool, { teamId, webhookUrl: url, webhookFormat: format, emailApprovers }, getKeyring(SECRET_KEYS));
  if (!secret) throw new Error("no signing secret was generated");
  return secret;
}

export const PREVIEW = { command: "DELETE", table: "public.invoice", affected: 340, columns: [], keyColumns: [], before: [], after: [], plan: null, notes: [], durationMs: 3 };

/** A pending approval request as the gateway makes it (D's createWriteRequest: the outbox row in the same transaction). */
export async function askApproval(pool: pg.Pool, team: SeededTeam, over: { params?: unknown[]; expiresAt?: Date; kind?: "approval" | "confirm" } = {}) {
  return createWriteRequest(pool, {
    teamId: team.teamId,
    linkId: team.linkId,
    kind: over.kind ?? "approval",
    mode: over.kind === "confirm" ? "confirm" : "writes",
    tables: ["public.invoice"],
    reason: "public.invoice requires a lead's approval for every write (approval: writes)",
    sql: "DELETE FROM invoice WHERE total < $1",
    params: over.params ?? [1],
    catalogVersion: "v1",
    scopeHash: "s1",
    userId: team.users.requester.id,
    principalSubject: `key-${team.users.requester.id}`,
    clientName: "cursor",
    preview: PREVIEW,
    expiresAt: over.expiresAt ?? new Date(Date.now() + 3_600_000),
  });
}

export async function deliveries(pool: pg.Pool, subjectId: string) {
  const { rows } = await pool.query<{ id: string; event: string; channel: string; target: string; status: string; attempts: number; response_status: number | null; last_error: string | null }>(
    `SELECT id::text, event, channel, target, status, attempts, response_status, last_error FROM notification_deliveries WHERE subject_id = $1 ORDER BY channel, target`,
    [subjectId],
  );
  return rows;
}
