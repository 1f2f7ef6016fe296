import { randomBytes } from "node:crypto";
import { isIP } from "node:net";
import { z } from "zod";
import { PortcullisError } from "../errors.js";
import { getKeyring, type SecretKeyring } from "../secrets/index.js";
import { type StackEndpoint, auditSinkAddressRefusal, urlPort } from "./audit-sinks-address.js";
import { recordConfigChangeSql } from "./audit-sql.js";
import { webhookUrlSchema } from "./notification-settings.js";
import { inTransaction, type OperationsDb, parseInput, type Query, queryOf, toDate, uuidSchema } from "./sql-db.js";

/**
 * Audit sinks (issue 16 point 4): a team streams its audit trail, in chain order, to a signed webhook
 * or to a JSON-lines directory under the operator's AUDIT_EXPORT_DIR. Admins change them; everyone who
 * reads the whole team's Activity sees their status. Every change is audited with the URL's query
 * string and the secret left out. The signing secret (32 random bytes, base64url) is sealed with the
 * team and sink ids as associated data and returned only by the call that made it.
 */

export const AUDIT_SINK_KINDS = ["webhook", "file"] as const;
export type AuditSinkKind = (typeof AUDIT_SINK_KINDS)[number];

/** The name is the file sink's directory: lower-case letters, digits and dashes, so never `..` or `/`. */
export const auditSinkNameSchema = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,39}$/, "a sink name is 1-40 lower-case letters, digits and dashes, starting with a letter or digit");

export const auditSinkSecretContext = (teamId: string, sinkId: string) => `audit-sink:${teamId.toLowerCase()}:${sinkId.toLowerCase()}`;

export interface AuditSinkView {
  id: string;
  teamId: string;
  name: string;
  kind: AuditSinkKind;
  url: string | null;
  status: "active" | "paused";
  pausedReason: string | null;
  cursorSeq: string;
  cursorHash: string | null;
  deliveredCount: string;
  /** Events of the team after the cursor (head seq − cursor seq). */
  lag: string;
  failures: number;
  lastError: string | null;
  lastStatus: number | null;
  lastAttemptAt: Date | null;
  lastDeliveredAt: Date | null;
  nextAttemptAt: Date | null;
  testRequestedAt: Date | null;
  lastTestAt: Date | null;
  lastTestOk: boolean | null;
  lastTestError: string | null;
  /** Events retention removed before the sink got them (each gap was told to the receiver). */
  skippedEvents: string;
  lastGapFrom: string | null;
  lastGapTo: string | null;
  lastGapAt: Date | null;
  createdAt: Date | null;
}

type Raw = Record<string, unknown>;

const COLUMNS = `s.id::text AS id, s.team_id::text AS team_id, s.name, s.kind, s.url, s.status, s.paused_reason,
  s.cursor_seq::text AS cursor_seq, s.cursor_hash, s.delivered_count::text AS delivered_count,
  GREATEST(COALESCE(h.last_seq, 0) - s.cursor_seq, 0)::text AS lag, s.failures, s.last_error, s.last_status,
  s.last_attempt_at, s.last_delivered_at, s.next_attempt_at, s.test_requested_at, s.last_test_at, s.last_test_ok,
  s.last_test_error, s.skipped_events::text AS skipped_events, s.last_gap_from::text AS last_gap_from,
  s.last_gap_to::text AS last_gap_to, s.last_gap_at, s.created_at`;
const FROM = "audit_sinks s LEFT JOIN audit_chain_heads h ON h.team_id = s.team_id";

function toView(r: Raw): AuditSinkView {
  return {
    id: r.id as string,
    teamId: r.team_id as string,
    name: r.name as string,
    kind: r.kind as AuditSinkKind,
    url: (r.url as string | null) ?? null,
    status: r.status as "active" | "paused",
    pausedReason: (r.paused_reason as string | null) ?? null,
    cursorSeq: r.cursor_seq as string,
    cursorHash: (r.cursor_hash as string | null) ?? null,
    deliveredCount: r.delivered_count as string,
    lag: r.lag as string,
    failures: Number(r.failures),
    lastError: (r.last_error as string | null) ?? null,
    lastStatus: r.last_status === null || r.last_status === undefined ? null : Number(r.last_status),
    lastAttemptAt: toDate(r.last_attempt_at),
    lastDeliveredAt: toDate(r.last_delivered_at),
    nextAttemptAt: toDate(r.next_attempt_at),
    testRequestedAt: toDate(r.test_requested_at),
    lastTestAt: toDate(r.last_test_at),
    lastTestOk: r.last_test_ok === null || r.last_test_ok === undefined ? null : Boolean(r.last_test_ok),
    lastTestError: (r.last_test_error as string | null) ?? null,
    skippedEvents: (r.skipped_events as string | undefined) ?? "0",
    lastGapFrom: (r.last_gap_from as string | null) ?? null,
    lastGapTo: (r.last_gap_to as string | null) ?? null,
    lastGapAt: toDate(r.last_gap_at),
    createdAt: toDate(r.created_at),
  };
}

/**
 * A URL as the audit trail and non-admins see it: the origin only. Receivers put tokens in the path
 * (Splunk HEC-style /services/collector/<token>, Slack-style hooks) as well as in the query.
 */
export function shownSinkUrl(url: string | null): string | null {
  if (!url) return url;
  if (!URL.canParse(url)) return "(unparseable URL)";
  const u = new URL(url);
  return `${u.origin}${u.pathname !== "/" || u.search || u.hash ? "/…" : "/"}`;
}

/** A URL as the team's admins (who set it) and the operator's CLI see it: the path, never the query or fragment. */
export function adminSinkUrl(url: string | null): string | null {
  if (!url) return url;
  if (!URL.canParse(url)) return "(unparseable URL)";
  const u = new URL(url);
  return `${u.origin}${u.pathname}${u.search || u.hash ? "?…" : ""}`;
}

export async function listAuditSinks(db: OperationsDb, input: { teamId: string }): Promise<AuditSinkView[]> {
  const { teamId } = parseInput(z.strictObject({ teamId: uuidSchema }), input);
  const rows = await queryOf(db)<Raw>(`SELECT ${COLUMNS} FROM ${FROM} WHERE s.team_id = $1::uuid ORDER BY s.name`, [teamId]);
  return rows.map(toView);
}

/** One sink of the team; another team's sink (or a made-up id) is not_found, exactly alike. */
export async function getAuditSink(db: OperationsDb, input: { teamId: string; sinkId: string }): Promise<AuditSinkView> {
  const v = parseInput(z.strictObject({ teamId: uuidSchema, sinkId: uuidSchema }), input);
  const rows = await queryOf(db)<Raw>(`SELECT ${COLUMNS} FROM ${FROM} WHERE s.id = $1::uuid AND s.team_id = $2::uuid`, [v.sinkId, v.teamId]);
  if (!rows[0]) throw new PortcullisError("not_found", "audit sink not found");
  return toView(rows[0]);
}

const actorFields = {
  teamId: uuidSchema,
  actorUserId: uuidSchema.nullish(),
  via: z.enum(["dashboard", "cli"]).default("dashboard"),
  sourceIp: z.string().max(64).nullish(),
};

const createSchema = () =>
  z.discriminatedUnion("kind", [
    z.strictObject({ ...actorFields, kind: z.literal("webhook"), name: auditSinkNameSchema, url: webhookUrlSchema() }),
    z.strictObject({ ...actorFields, kind: z.literal("file"), name: auditSinkNameSchema }),
  ]);
export type CreateAuditSinkInput = z.input<ReturnType<typeof createSchema>>;

export interface AuditSinkOptions {
  keyring?: SecretKeyring;
  /** The stack's own services (stackEndpoints of its URLs): refused as webhook targets whatever else is allowed. */
  stack?: StackEndpoint[];
}

/** Refuses, at configuration time, a URL that names an IP literal the sink could never reach (the worker checks resolved names again). */
function checkLiteralTarget(url: string, stack: StackEndpoint[]): void {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, "");
  const literal = isIP(host) ? host : /^localhost\.?$/i.test(host) ? "127.0.0.1" : null;
  if (!literal) return;
  const refusal = auditSinkAddressRefusal(host, literal, urlPort(u), stack);
  if (refusal) throw new PortcullisError("invalid_input", refusal);
}

async function audit(q: Query, v: { teamId: string; actorUserId?: string | null; via: "dashboard" | "cli"; sourceIp?: string | null }, action: string, sink: { id: string; name: string }, before: unknown, after: unknown) {
  await recordConfigChangeSql(q, {
    teamId: v.teamId,
    actorUserId: v.actorUserId ?? null,
    action,
    target: { type: "audit_sink", id: sink.id, name: sink.name },
    before,
    after,
    sourceIp: v.sourceIp ?? null,
    via: v.via,
  });
}

const shown = (s: AuditSinkView) => ({ name: s.name, kind: s.kind, url: shownSinkUrl(s.url), status: s.status });

/** Adds a sink (its cursor at 0: the team's whole retained trail is delivered first). Webhooks get a secret, returned once. */
/** Sinks per team (the team row lock in createAuditSink makes the count exact). */
export const MAX_SINKS_PER_TEAM = 10;

export async function createAuditSink(db: OperationsDb, input: CreateAuditSinkInput, options: AuditSinkOptions = {}): Promise<{ sink: AuditSinkView; secret: string | null }> {
  const v = parseInput(createSchema(), input);
  if (v.kind === "webhook") checkLiteralTarget(v.url, options.stack ?? []);
  const keyring = options.keyring ?? getKeyring();
  return inTransaction(db, async (q) => {
    const team = await q<{ id: string }>("SELECT id::text AS id FROM teams WHERE id = $1::uuid FOR UPDATE", [v.teamId]);
    if (!team[0]) throw new PortcullisError("not_found", "team not found");
    const taken = await q("SELECT 1 FROM audit_sinks WHERE team_id = $1::uuid AND name = $2", [v.teamId, v.name]);
    if (taken.length) throw new PortcullisError("conflict", `this team already has a sink named ${v.name}`);
    // Each sink costs the worker a delivery turn; the cap keeps one team from crowding the others' turns.
    const count = (await q<{ n: number }>("SELECT count(*)::int AS n FROM audit_sinks WHERE team_id = $1::uuid", [v.teamId]))[0]!.n;
    if (count >= MAX_SINKS_PER_TEAM)
      throw new PortcullisError("conflict", `a team has at most ${MAX_SINKS_PER_TEAM} audit sinks; delete one before adding another`);
    const id = (await q<{ id: string }>("SELECT gen_random_uuid()::text AS id"))[0]!.id;
    const secret = v.kind === "webhook" ? randomBytes(32).toString("base64url") : null;
    const sealed = secret ? keyring.seal(secret, auditSinkSecretContext(v.teamId, id)) : null;
    await q(
      `INSERT INTO audit_sinks (id, team_id, name, kind, url, secret_ciphertext, secret_key_id, created_by)
       VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8::uuid)`,
      [id, v.teamId, v.name, v.kind, v.kind === "webhook" ? v.url : null, sealed?.ciphertext ?? null, sealed?.keyId ?? null, v.actorUserId ?? null],
    );
    const sink = toView((await q<Raw>(`SELECT ${COLUMNS} FROM ${FROM} WHERE s.id = $1::uuid`, [id]))[0]!);
    await audit(q, v, "audit_sink.create", sink, null, { ...shown(sink), signingSecret: secret ? "created" : "none" });
    return { sink, secret };
  });
}

const sinkActionSchema = z.strictObject({ ...actorFields, sinkId: uuidSchema });
export type AuditSinkActionInput = z.input<typeof sinkActionSchema>;

/** Locks the team's own sink for a change; another team's id is not_found and nothing is touched. */
async function lockSink(q: Query, teamId: string, sinkId: string): Promise<AuditSinkView> {
  const rows = await q<Raw>(`SELECT ${COLUMNS} FROM audit_sinks s LEFT JOIN audit_chain_heads h ON h.team_id = s.team_id WHERE s.id = $1::uuid AND s.team_id = $2::uuid FOR UPDATE OF s`, [sinkId, teamId]);
  if (!rows[0]) throw new PortcullisError("not_found", "audit sink not found");
  return toView(rows[0]);
}

export async function pauseAuditSink(db: OperationsDb, input: AuditSinkActionInput): Promise<AuditSinkView> {
  const v = parseInput(sinkActionSchema, input);
  return inTransaction(db, async (q) => {
    const before = await lockSink(q, v.teamId, v.sinkId);
    await q("UPDATE audit_sinks SET status = 'paused', paused_reason = 'paused by an admin', updated_at = now() WHERE id = $1::uuid", [v.sinkId]);
    const after = await lockSink(q, v.teamId, v.sinkId);
    await audit(q, v, "audit_sink.pause", after, shown(before), shown(after));
    return after;
  });
}

/** Resumes from the cursor (nothing skipped), with the failure history cleared and an attempt due now. */
export async function resumeAuditSink(db: OperationsDb, input: AuditSinkActionInput): Promise<AuditSinkView> {
  const v = parseInput(sinkActionSchema, input);
  return inTransaction(db, async (q) => {
    const before = await lockSink(q, v.teamId, v.sinkId);
    await q(
      `UPDATE audit_sinks SET status = 'active', paused_reason = NULL, failures = 0, failing_since = NULL, next_attempt_at = now(), updated_at = now()
        WHERE id = $1::uuid`,
      [v.sinkId],
    );
    const after = await lockSink(q, v.teamId, v.sinkId);
    await audit(q, v, "audit_sink.resume", after, shown(before), shown(after));
    return after;
  });
}

export async function deleteAuditSink(db: OperationsDb, input: AuditSinkActionInput): Promise<{ id: string }> {
  const v = parseInput(sinkActionSchema, input);
  return inTransaction(db, async (q) => {
    const before = await lockSink(q, v.teamId, v.sinkId);
    await q("DELETE FROM audit_sinks WHERE id = $1::uuid AND team_id = $2::uuid", [v.sinkId, v.teamId]);
    await audit(q, v, "audit_sink.delete", before, { ...shown(before), cursorSeq: before.cursorSeq }, null);
    return { id: before.id };
  });
}

/** A new signing secret for a webhook sink: the old one stops verifying at the next batch. */
export async function rotateAuditSinkSecret(db: OperationsDb, input: AuditSinkActionInput, options: AuditSinkOptions = {}): Promise<{ secret: string }> {
  const v = parseInput(sinkActionSchema, input);
  const keyring = options.keyring ?? getKeyring();
  return inTransaction(db, async (q) => {
    const sink = await lockSink(q, v.teamId, v.sinkId);
    if (sink.kind !== "webhook") throw new PortcullisError("invalid_input", "only webhook sinks have a signing secret");
    const secret = randomBytes(32).toString("base64url");
    const sealed = keyring.seal(secret, auditSinkSecretContext(v.teamId, v.sinkId));
    await q("UPDATE audit_sinks SET secret_ciphertext = $1, secret_key_id = $2, updated_at = now() WHERE id = $3::uuid", [sealed.ciphertext, sealed.keyId, v.sinkId]);
    await audit(q, v, "audit_sink.secret.rotate", sink, { signingSecret: "set" }, { signingSecret: "rotated" });
    return { secret };
  });
}

/** Asks the worker for one signed test batch (or test file); `waitForAuditSinkTest` reads its outcome. */
export async function requestAuditSinkTest(db: OperationsDb, input: AuditSinkActionInput): Promise<{ requestedAt: Date }> {
  const v = parseInput(sinkActionSchema, input);
  return inTransaction(db, async (q) => {
    const sink = await lockSink(q, v.teamId, v.sinkId);
    const rows = await q<{ at: unknown }>("UPDATE audit_sinks SET test_requested_at = now() WHERE id = $1::uuid RETURNING test_requested_at AS at", [v.sinkId]);
    await audit(q, v, "audit_sink.test", sink, null, { name: sink.name });
    return { requestedAt: toDate(rows[0]!.at)! };
  });
}

/** The outcome of the test requested at `since`, polled for up to `timeoutMs`; null when no worker answered in time. */
export async function waitForAuditSinkTest(
  db: OperationsDb,
  input: { teamId: string; sinkId: string; since: Date; timeoutMs?: number },
): Promise<{ ok: boolean; error: string | null } | null> {
  const deadline = Date.now() + (input.timeoutMs ?? 8000);
  while (Date.now() < deadline) {
    const sink = await getAuditSink(db, { teamId: input.teamId, sinkId: input.sinkId });
    if (sink.lastTestAt && sink.lastTestAt.getTime() >= input.since.getTime() && !sink.testRequestedAt) return { ok: Boolean(sink.lastTestOk), error: sink.lastTestError };
    await new Promise((r) => setTimeout(r, 250));
  }
  return null;
}

/** Re-seals every audit sink's signing secret under the keyring's primary key (part of `secrets reencrypt`). */
export async function reencryptAuditSinkSecrets(db: OperationsDb, keyring: SecretKeyring = getKeyring()): Promise<{ reencrypted: number; remaining: number }> {
  const q = queryOf(db);
  const stale = await q<{ id: string; team_id: string; c: string }>(
    "SELECT id::text AS id, team_id::text AS team_id, secret_ciphertext AS c FROM audit_sinks WHERE secret_ciphertext IS NOT NULL AND secret_key_id <> $1",
    [keyring.primary.id],
  );
  let reencrypted = 0;
  for (const row of stale) {
    const context = auditSinkSecretContext(row.team_id, row.id);
    const sealed = keyring.seal(keyring.open(row.c, context), context);
    // Guarded on the old ciphertext: a rotation at the same moment is not overwritten with the stale secret.
    const done = await q("UPDATE audit_sinks SET secret_ciphertext = $1, secret_key_id = $2 WHERE id = $3::uuid AND secret_ciphertext = $4 RETURNING 1", [sealed.ciphertext, sealed.keyId, row.id, row.c]);
    reencrypted += done.length;
  }
  const left = await q<{ n: number }>("SELECT count(*)::int AS n FROM audit_sinks WHERE secret_ciphertext IS NOT NULL AND secret_key_id <> $1", [keyring.primary.id]);
  return { reencrypted, remaining: Number(left[0]!.n) };
}
